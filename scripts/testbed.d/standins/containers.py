"""Containers as docker shows them (docker ps, docker compose ps, inspect of a container)."""

import time

from .cli import has, last, print_rows, take_opts
from .common import out
from .composefile import parse_port
from .state import State, docker_time, human_duration, now_iso


def find_container(st, name):
    for pname, p in st.projects.items():
        for sname, s in p.get("services", {}).items():
            if name in (s.get("container"), s.get("container_id", "")[:12], s.get("container_id")):
                return {"Id": s.get("container_id"), "Name": "/" + s.get("container", ""), "Image": s.get("image_id"),
                        "Config": {"Image": s.get("image"), "Labels": {"com.docker.compose.project": pname, "com.docker.compose.service": sname}},
                        "State": {"Status": s.get("state"), "Running": s.get("state") == "running"}}
    return None


def container_rows(st, project=None, services=None, include_stopped=True):
    rows = []
    now = time.time()
    for pname in sorted(st.projects):
        if project is not None and pname != project:
            continue
        p = st.projects[pname]
        for sname in sorted(p.get("services", {})):
            if services and sname not in services:
                continue
            s = p["services"][sname]
            if not include_stopped and s.get("state") != "running":
                continue
            if s.get("state") == "running":
                status = "Up " + human_duration(now - s.get("started", now))
            elif s.get("state") == "created":
                status = "Created"
            else:
                status = "Exited (%d) %s ago" % (s.get("exit_code", 0), human_duration(now - s.get("stopped", now)))
            pubs = []
            ports = []
            for spec in s.get("ports", []):
                pp = parse_port(spec)
                if pp:
                    pubs.append({"URL": pp[0] or "0.0.0.0", "TargetPort": pp[2], "PublishedPort": pp[1], "Protocol": "tcp"})
                    if s.get("state") == "running":
                        ports.append("%s:%d->%d/tcp" % (pp[0] or "0.0.0.0", pp[1], pp[2]))
            rows.append({
                "Command": '"docker-php-entrypoint php-fpm"',
                "CreatedAt": docker_time(now_iso(s.get("created", now))),
                "ExitCode": s.get("exit_code", 0),
                "Health": "",
                "ID": s.get("container_id", "")[:12],
                "Image": s.get("image"),
                "Labels": "com.docker.compose.project=%s,com.docker.compose.service=%s" % (pname, sname),
                "LocalVolumes": "0",
                "Mounts": "",
                "Name": s.get("container"),
                "Names": s.get("container"),
                "Networks": "%s_default" % pname,
                "Ports": ", ".join(ports),
                "Project": pname,
                "Publishers": pubs,
                "RunningFor": human_duration(now - s.get("created", now)) + " ago",
                "Service": sname,
                "Size": "0B",
                "State": s.get("state"),
                "Status": status,
            })
    return rows


def cmd_ps(args):
    opts, pos = take_opts(args, {"--format", "--filter", "-f", "-n", "--last"}, {"-a", "--all", "-q", "--quiet", "--no-trunc", "-s", "--size", "-l", "--latest"})
    with State() as st:
        rows = container_rows(st, include_stopped=has(opts, "-a", "--all"))
    for f in opts.get("--filter", []) + opts.get("-f", []):
        k, _, v = f.partition("=")
        if k == "name":
            rows = [r for r in rows if v in r["Name"]]
        elif k == "label" and v.startswith("com.docker.compose.project="):
            rows = [r for r in rows if r["Project"] == v.split("=", 1)[1]]
        elif k == "status":
            rows = [r for r in rows if r["State"] == v]
    if has(opts, "-q", "--quiet"):
        for r in rows:
            out(r["ID"])
        return 0
    print_rows(rows, last(opts, "--format"), [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Name")])
    return 0
