"""The docker command: global options, version, info, and dispatch to the image,
container and compose commands."""

import os

from .cli import last, render, take_opts
from .common import API_VERSION, DOCKER_VERSION, HOST, Fail, out
from .compose import cmd_compose
from .containers import cmd_ps
from .images import cmd_build, cmd_image_inspect, cmd_images, cmd_pull, cmd_rmi, cmd_tag
from .prune import cmd_builder_prune, cmd_image_prune, cmd_system_prune
from .state import State


def version_obj():
    return {
        "Client": {"Platform": {"Name": "Docker Engine - Community"}, "Version": DOCKER_VERSION, "ApiVersion": API_VERSION,
                   "DefaultAPIVersion": API_VERSION, "GitCommit": "afdd53b", "GoVersion": "go1.20.10", "Os": "linux", "Arch": "amd64",
                   "BuildTime": "Thu Oct 26 09:08:01 2023", "Context": "default"},
        "Server": {"Platform": {"Name": "Docker Engine - Community"}, "Version": DOCKER_VERSION, "ApiVersion": API_VERSION,
                   "MinAPIVersion": "1.12", "GitCommit": "311b9ff", "GoVersion": "go1.20.10", "Os": "linux", "Arch": "amd64",
                   "KernelVersion": os.uname().release, "BuildTime": "Thu Oct 26 09:08:01 2023",
                   "Components": [{"Name": "Engine", "Version": DOCKER_VERSION}]},
    }


def cmd_version(args):
    opts, pos = take_opts(args, {"--format", "-f"}, set())
    v = version_obj()
    fmt = last(opts, "--format", "-f")
    if fmt:
        out(render(fmt, v))
        return 0
    c, s = v["Client"], v["Server"]
    out("Client: Docker Engine - Community\n Version:           %s\n API version:       %s\n Go version:        %s\n Git commit:        %s\n Built:             %s\n OS/Arch:           linux/amd64\n Context:           default\n"
        % (c["Version"], c["ApiVersion"], c["GoVersion"], c["GitCommit"], c["BuildTime"]))
    out("Server: Docker Engine - Community\n Engine:\n  Version:          %s\n  API version:      %s (minimum version 1.12)\n  Go version:       %s\n  Git commit:       %s\n  Built:            %s\n  OS/Arch:          linux/amd64\n  Experimental:     false\n (alfa testbed stand-in)"
        % (s["Version"], s["ApiVersion"], s["GoVersion"], s["GitCommit"], s["BuildTime"]))
    return 0


def cmd_info(args):
    opts, pos = take_opts(args, {"--format", "-f"}, set())
    with State() as st:
        running = sum(1 for p in st.projects.values() for s in p.get("services", {}).values() if s.get("state") == "running")
        total = sum(len(p.get("services", {})) for p in st.projects.values())
        nimg = len({i["id"] for i in st.images})
    info = {"ID": "ALFA:TESTBED", "Containers": total, "ContainersRunning": running, "ContainersPaused": 0,
            "ContainersStopped": total - running, "Images": nimg, "Driver": "overlay2", "ServerVersion": DOCKER_VERSION,
            "OperatingSystem": "alfa testbed stand-in", "OSType": "linux", "Architecture": "x86_64",
            "NCPU": os.cpu_count(), "DockerRootDir": "/var/lib/docker", "Name": os.path.basename(HOST)}
    fmt = last(opts, "--format", "-f")
    if fmt:
        out(render(fmt, info))
        return 0
    out("Client: Docker Engine - Community\n Version:    %s\n Context:    default\n\nServer:\n Containers: %d\n  Running: %d\n  Paused: 0\n  Stopped: %d\n Images: %d\n Server Version: %s\n Storage Driver: overlay2\n Operating System: alfa testbed stand-in\n Docker Root Dir: /var/lib/docker"
        % (DOCKER_VERSION, total, running, total - running, nimg, DOCKER_VERSION))
    return 0


def cmd_docker(args):
    # global options
    i = 0
    gv = {"-H", "--host", "--context", "-c", "--config", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey"}
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        if a in ("-v", "--version"):
            out("Docker version %s, build afdd53b" % DOCKER_VERSION)
            return 0
        if a in ("-h", "--help"):
            out("Usage:  docker [OPTIONS] COMMAND\n\n(alfa testbed stand-in)")
            return 0
        if a in gv:
            i += 2
        elif a.split("=", 1)[0] in gv or a in ("-D", "--debug", "--tls", "--tlsverify"):
            i += 1
        else:
            raise Fail("unknown flag: %s\nSee 'docker --help'." % a)
    args = args[i:]
    if not args:
        out("Usage:  docker [OPTIONS] COMMAND\n\n(alfa testbed stand-in)")
        return 0
    cmd, rest = args[0], args[1:]
    sub = rest[0] if rest else None
    if cmd == "compose":
        return cmd_compose(rest)
    if cmd == "version":
        return cmd_version(rest)
    if cmd == "info" or (cmd == "system" and sub == "info"):
        return cmd_info(rest if cmd == "info" else rest[1:])
    if cmd == "images" or (cmd == "image" and sub in ("ls", "list")):
        return cmd_images(rest if cmd == "images" else rest[1:])
    if (cmd == "image" and sub == "inspect") or cmd == "inspect":
        return cmd_image_inspect(rest if cmd == "inspect" else rest[1:])
    if cmd == "build" or (cmd in ("image", "buildx") and sub == "build"):
        return cmd_build(rest if cmd == "build" else rest[1:])
    if cmd == "tag" or (cmd == "image" and sub == "tag"):
        return cmd_tag(rest if cmd == "tag" else rest[1:])
    if cmd == "rmi" or (cmd == "image" and sub in ("rm", "remove")):
        return cmd_rmi(rest if cmd == "rmi" else rest[1:])
    if cmd == "image" and sub == "prune":
        return cmd_image_prune(rest[1:])
    if cmd == "system" and sub == "prune":
        return cmd_system_prune(rest[1:])
    if cmd in ("builder", "buildx") and sub == "prune":
        return cmd_builder_prune(rest[1:])
    if cmd == "ps" or (cmd == "container" and sub in ("ls", "list", "ps")):
        return cmd_ps(rest if cmd == "ps" else rest[1:])
    if cmd == "pull" or (cmd == "image" and sub == "pull"):
        return cmd_pull(rest if cmd == "pull" else rest[1:])
    raise Fail("docker: '%s' is not a docker command (not supported by the alfa testbed stand-in).\nSee 'docker --help'" % " ".join(args[:2]))
