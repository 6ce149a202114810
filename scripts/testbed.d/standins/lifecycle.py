"""docker compose up, down, restart, stop and start: they change the containers in the
state file and start or stop the services' fake apps."""

import hashlib
import json
import os
import time

from .cli import has, last, take_opts
from .common import Fail, err
from .composefile import parse_port, resolve_rel
from .fakeapp import _pid_is_app, app_start, app_stop
from .state import State, split_ref


def compose_up(c, args):
    opts, pos = take_opts(args, {"--pull", "--scale", "-t", "--timeout", "--wait-timeout", "--exit-code-from"},
                          {"-d", "--detach", "--force-recreate", "--no-recreate", "--no-deps", "--remove-orphans", "--build",
                           "--no-build", "--wait", "--quiet-pull", "--always-recreate-deps", "-V", "--renew-anon-volumes",
                           "--no-start", "-y", "--yes"})
    cfg = c.need_config()
    services = cfg["services"]
    wanted = pos or list(services)
    for w in wanted:
        if w not in services:
            raise Fail("no such service: %s" % w)
    with State() as st:
        proj = st.projects.get(c.project) or {"services": {}}
        new_services = {}
        # validate first, like compose does before touching anything
        plan = []
        for sname in wanted:
            sv = services[sname] or {}
            image = sv.get("image")
            if not image and not sv.get("build"):
                raise Fail('service "%s" has neither an image nor a build context specified: invalid compose project' % sname)
            if not image:
                image = "%s-%s" % (c.project, sname)
            envf = sv.get("env_file") or []
            if isinstance(envf, (str, dict)):
                envf = [envf]
            envf = [resolve_rel(c.project_dir, e["path"] if isinstance(e, dict) else e) for e in envf]
            for e in envf:
                if not os.path.isfile(e):
                    raise Fail("env file %s not found: stat %s: no such file or directory" % (e, e))
            im = st.find_image(image)
            if im is None and sv.get("build") and not has(opts, "--no-build"):
                repo, tag = split_ref(image)
                im = st.add_image(repo, tag)
            if im is None:
                repo, tag = split_ref(image)
                err(" %s Error pull access denied for %s, repository does not exist or may require 'docker login'" % (sname, repo))
                raise Fail("Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied" % repo, 18)
            ports = [p if isinstance(p, dict) else str(p) for p in (sv.get("ports") or [])]
            for p in ports:
                pp = parse_port(p)
                if pp is None:
                    continue
                for on, op in st.projects.items():
                    for osn, os_ in op.get("services", {}).items():
                        if on == c.project and osn == sname:
                            continue
                        if os_.get("state") != "running":
                            continue
                        for q in os_.get("ports", []):
                            qq = parse_port(q)
                            if qq and qq[1] == pp[1] and (qq[0] in ("", "0.0.0.0") or pp[0] in ("", "0.0.0.0") or qq[0] == pp[0]):
                                raise Fail("Error response from daemon: driver failed programming external connectivity on endpoint %s: Bind for %s:%d failed: port is already allocated"
                                           % (c.cname(sname), pp[0] or "0.0.0.0", pp[1]))
            vols = []
            for v in sv.get("volumes") or []:
                if isinstance(v, dict):
                    src = v.get("source")
                    if v.get("type") == "bind" and src:
                        vols.append(resolve_rel(c.project_dir, src) + ":" + str(v.get("target")))
                    continue
                parts = str(v).split(":")
                if len(parts) >= 2 and (parts[0].startswith(("/", "./", "../", "~")) or parts[0] in (".", "..")):
                    src = resolve_rel(c.project_dir, parts[0])
                    vols.append(":".join([src] + parts[1:]))
            plan.append((sname, sv, image, im, envf, ports, vols))
        if not c.files:
            raise Fail("no configuration file provided: not found", 14)
        existed = bool(st.projects.get(c.project))
        if not existed:
            c.progress("Network", "%s_default" % c.project, "Creating")
            c.progress("Network", "%s_default" % c.project, "Created")
        for sname, sv, image, im, envf, ports, vols in plan:
            for v in vols:
                src = v.split(":")[0]
                if not os.path.exists(src):
                    # the real docker engine makes a missing bind-mount source as an empty directory
                    try:
                        os.makedirs(src, exist_ok=True)
                    except OSError:
                        pass
            old = proj["services"].get(sname)
            cfg_hash = hashlib.sha256(json.dumps([image, im["id"], envf, ports, vols, sv.get("environment")], sort_keys=True, default=str).encode()).hexdigest()
            name = sv.get("container_name") or c.cname(sname)
            now = time.time()
            if old and old.get("config_hash") == cfg_hash and not has(opts, "--force-recreate"):
                s = old
                if s.get("state") != "running" and not has(opts, "--no-start"):
                    c.progress("Container", name, "Starting")
                    s.update(state="running", started=now)
                    app_start(c.project, sname, s)
                    c.progress("Container", name, "Started")
                else:
                    if s.get("state") == "running" and not _pid_is_app(s.get("app_pid") or 0):
                        app_start(c.project, sname, s)
                    c.progress("Container", name, "Running")
            else:
                if old:
                    app_stop(old)
                    c.progress("Container", name, "Recreate")
                    verb = "Recreated"
                else:
                    c.progress("Container", name, "Creating")
                    verb = "Created"
                s = {"image": image, "image_id": im["id"], "env_file": envf, "ports": ports, "volumes": vols,
                     "compose_files": c.files, "working_dir": c.project_dir, "container": name,
                     "container_id": os.urandom(32).hex(), "created": now, "config_hash": cfg_hash,
                     "restarts": 0, "state": "created", "exit_code": 0}
                c.progress("Container", name, verb)
                if not has(opts, "--no-start"):
                    c.progress("Container", name, "Starting")
                    s.update(state="running", started=now)
                    app_start(c.project, sname, s)
                    c.progress("Container", name, "Started")
            new_services[sname] = s
        for sname, s in proj["services"].items():
            if sname not in new_services:
                if has(opts, "--remove-orphans") or sname in services:
                    if sname in services:
                        new_services[sname] = s
                    else:
                        app_stop(s)
                        c.progress("Container", s.get("container"), "Removed")
                else:
                    err(' WARN[0000] Found orphan containers ([%s]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.' % s.get("container"))
                    new_services[sname] = s
        proj["services"] = new_services
        proj["working_dir"] = c.project_dir
        proj["compose_files"] = c.files
        st.projects[c.project] = proj
        # an image that lost its last tag while a container used it, and is now unused, stays dangling: real behaviour
        st.save()
    return 0


def compose_down(c, args):
    opts, pos = take_opts(args, {"--rmi", "-t", "--timeout"}, {"-v", "--volumes", "--remove-orphans"})
    with State() as st:
        proj = st.projects.pop(c.project, None)
        if not proj:
            err(" Warning: No resource found to remove for project \"%s\"." % c.project)
            return 0
        ids = set()
        for s in proj["services"].values():
            name = s.get("container")
            app_stop(s)
            if s.get("state") == "running":
                c.progress("Container", name, "Stopping")
                c.progress("Container", name, "Stopped")
            c.progress("Container", name, "Removing")
            c.progress("Container", name, "Removed")
            ids.add(s.get("image_id"))
        c.progress("Network", "%s_default" % c.project, "Removing")
        c.progress("Network", "%s_default" % c.project, "Removed")
        if last(opts, "--rmi") == "all":
            used = st.used_image_ids()
            for im in list(st.images):
                if im["id"] in ids and im["id"] not in used:
                    st.images.remove(im)
                    c.progress("Image", "%s:%s" % (im["repo"], im["tag"]), "Removed")
        st.save()
    return 0


def _services_of(c, st, pos, verb):
    proj = st.projects.get(c.project)
    svcs = (proj or {}).get("services", {})
    for p in pos:
        if c.config and p not in (c.config.get("services") or {}) and p not in svcs:
            raise Fail("no such service: %s" % p)
        if not c.config and p not in svcs:
            raise Fail("no such service: %s" % p)
    return proj, [(n, s) for n, s in sorted(svcs.items()) if not pos or n in pos]


def compose_restart(c, args):
    opts, pos = take_opts(args, {"-t", "--timeout"}, {"--no-deps"})
    with State() as st:
        proj, svcs = _services_of(c, st, pos, "restart")
        now = time.time()
        for n, s in svcs:
            if s.get("state") == "created":
                continue
            c.progress("Container", s["container"], "Restarting")
            s.update(state="running", started=now, restarts=s.get("restarts", 0) + 1, exit_code=0)
            app_start(c.project, n, s)
            c.progress("Container", s["container"], "Started")
        st.save()
    return 0


def compose_stop(c, args):
    opts, pos = take_opts(args, {"-t", "--timeout"}, set())
    with State() as st:
        proj, svcs = _services_of(c, st, pos, "stop")
        now = time.time()
        for n, s in svcs:
            if s.get("state") != "running":
                continue
            c.progress("Container", s["container"], "Stopping")
            app_stop(s)
            s.update(state="exited", stopped=now, exit_code=0)
            c.progress("Container", s["container"], "Stopped")
        st.save()
    return 0


def compose_start(c, args):
    opts, pos = take_opts(args, {"--wait-timeout"}, {"--wait"})
    with State() as st:
        proj, svcs = _services_of(c, st, pos, "start")
        if not svcs:
            raise Fail("service %s has no container to start" % (pos[0] if pos else '"app"'))
        now = time.time()
        for n, s in svcs:
            if s.get("state") == "running":
                continue
            c.progress("Container", s["container"], "Starting")
            s.update(state="running", started=now, exit_code=0)
            app_start(c.project, n, s)
            c.progress("Container", s["container"], "Started")
        st.save()
    return 0
