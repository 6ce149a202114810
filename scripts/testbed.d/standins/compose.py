"""docker compose (and docker-compose v1): dispatch, and the commands that only read the
state (ps, ls, logs, pull, config) or run something in a service (exec)."""

import json

from .artisan import artisan
from .cli import has, last, print_rows, take_opts
from .common import COMPOSE_VERSION, Fail, out
from .composefile import Compose
from .containers import container_rows
from .lifecycle import _services_of, compose_down, compose_restart, compose_start, compose_stop, compose_up
from .state import State


def compose_ps(c, args):
    opts, pos = take_opts(args, {"--format", "--filter", "--status"}, {"-a", "--all", "-q", "--quiet", "--services", "--no-trunc", "--orphans"})
    with State() as st:
        rows = container_rows(st, project=c.project, services=pos or None, include_stopped=has(opts, "-a", "--all"))
    status = opts.get("--status", [])
    if status:
        rows = [r for r in rows if r["State"] in status]
    for f in opts.get("--filter", []):
        k, _, v = f.partition("=")
        if k == "status":
            rows = [r for r in rows if r["State"] == v]
    if has(opts, "--services"):
        for r in rows:
            out(r["Service"])
        return 0
    if has(opts, "-q", "--quiet"):
        for r in rows:
            out(r["ID"])
        return 0
    print_rows(rows, last(opts, "--format"), [("NAME", "Name"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("SERVICE", "Service"), ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports")])
    return 0


def compose_ls(c, args):
    opts, pos = take_opts(args, {"--format", "--filter"}, {"-a", "--all", "-q", "--quiet"})
    rows = []
    with State() as st:
        for n in sorted(st.projects):
            p = st.projects[n]
            svcs = p.get("services", {}).values()
            running = sum(1 for s in svcs if s.get("state") == "running")
            if not running and not has(opts, "-a", "--all"):
                continue
            status = "running(%d)" % running if running else "exited(%d)" % len(svcs)
            rows.append({"Name": n, "Status": status, "ConfigFiles": ",".join(p.get("compose_files", []))})
    if has(opts, "-q", "--quiet"):
        for r in rows:
            out(r["Name"])
        return 0
    if last(opts, "--format") == "json":
        out(json.dumps(rows))
        return 0
    print_rows(rows, last(opts, "--format"), [("NAME", "Name"), ("STATUS", "Status"), ("CONFIG FILES", "ConfigFiles")])
    return 0


def compose_logs(c, args):
    opts, pos = take_opts(args, {"-n", "--tail", "--since", "--until"}, {"-f", "--follow", "-t", "--timestamps", "--no-color", "--no-log-prefix"})
    with State() as st:
        proj, svcs = _services_of(c, st, pos, "logs")
    for n, s in svcs:
        pre = "" if has(opts, "--no-log-prefix") else "%s  | " % s["container"]
        out(pre + "[testbed] php-fpm: ready to handle connections (image %s)" % s.get("image"))
        if s.get("restarts"):
            out(pre + "[testbed] restarted %d time(s)" % s["restarts"])
    return 0


def compose_pull(c, args):
    take_opts(args, {"--policy"}, {"-q", "--quiet", "--ignore-pull-failures", "--include-deps", "--ignore-buildable"})
    return 0


def compose_config(c, args):
    opts, pos = take_opts(args, {"--format", "-o", "--output"}, {"-q", "--quiet", "--services", "--images", "--no-interpolate", "--resolve-image-digests"})
    cfg = c.need_config()
    if has(opts, "-q", "--quiet"):
        return 0
    if has(opts, "--services"):
        for s in cfg["services"]:
            out(s)
        return 0
    if has(opts, "--images"):
        for s in cfg["services"].values():
            out((s or {}).get("image", ""))
        return 0
    out(json.dumps(dict(cfg, name=c.project), indent=2, default=str))
    return 0


def compose_exec(c, args):
    opts, pos = take_opts(args, {"-u", "--user", "-w", "--workdir", "-e", "--env", "--index"},
                          {"-T", "--no-TTY", "-d", "--detach", "--privileged", "--dry-run"}, stop_at_positional=True)
    if len(pos) < 2:
        raise Fail('"docker compose exec" requires at least 2 arguments.')
    sname, cmd = pos[0], pos[1:]
    with State() as st:
        proj = st.projects.get(c.project) or {}
        svc = proj.get("services", {}).get(sname)
        if not svc or svc.get("state") != "running":
            raise Fail('service "%s" is not running' % sname)
        svc = dict(svc)
    if cmd[:2] == ["php", "artisan"]:
        return artisan(svc, cmd[2:])
    if cmd[:1] == ["true"]:
        return 0
    if cmd[:1] == ["false"]:
        return 1
    # any other command "runs in the container": nothing to show
    return 0


def cmd_compose(args, v1=False):
    if args and args[0] in ("version", "--version", "-v") and not any(a in ("-p", "-f") for a in args[:1]):
        opts, pos = take_opts(args[1:], {"--format", "-f"}, {"--short"})
        if has(opts, "--short"):
            out(COMPOSE_VERSION if not v1 else "1.29.2")
        elif last(opts, "--format", "-f") == "json":
            out(json.dumps({"version": "v" + COMPOSE_VERSION}))
        elif v1:
            out("docker-compose version 1.29.2, build unknown")
        else:
            out("Docker Compose version v%s" % COMPOSE_VERSION)
        return 0
    c = Compose(args, v1=v1)
    handlers = {
        "up": compose_up, "down": compose_down, "restart": compose_restart, "stop": compose_stop,
        "start": compose_start, "ps": compose_ps, "pull": compose_pull, "exec": compose_exec,
        "logs": compose_logs, "ls": compose_ls, "config": compose_config,
    }
    if c.cmd == "version":
        out("Docker Compose version v%s" % COMPOSE_VERSION)
        return 0
    h = handlers.get(c.cmd)
    if h is None:
        if c.cmd is None:
            raise Fail("Usage:  docker compose [OPTIONS] COMMAND")
        raise Fail("unknown docker command: \"compose %s\" (not supported by the alfa testbed stand-in)" % c.cmd)
    return h(c, c.args)
