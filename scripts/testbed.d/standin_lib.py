"""Alfa Cloud testbed stand-ins (the code; bin/standin.py is the launcher).

Installed once per test host as <host>/bin/standin_lib.py, byte-compiled, with
the launcher <host>/bin/standin.py and symlinks to the launcher named docker,
docker-compose, nginx, certbot, reboot and shutdown. What it does depends on the name it was called by (argv[0]).  The host
directory is the parent of the bin directory the symlink lives in, so it is
known even under sudo, which resets the environment.

Every call is appended to <host>/calls.jsonl as one JSON line:
  {"ts": 1715000000.123, "argv": ["docker", "compose", ...], "cwd": "/...",
   "uid": 0, "pid": 1234, "sudo_user": "alfa", "fault": null}
Faults and delays are read on every call from <host>/standin.json
(see scripts/testbed.d/README.md).
"""

import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import sys
import time

BIN = os.path.dirname(os.path.abspath(sys.argv[0]))
HOST = os.path.dirname(BIN)
PROG = os.path.basename(sys.argv[0])
ARGS = sys.argv[1:]
CALLS = os.path.join(HOST, "calls.jsonl")
STATE = os.path.join(HOST, "docker-state.json")
STANDIN = os.path.join(HOST, "standin.json")
HOSTCONF = os.path.join(HOST, "testbed-host.json")

DOCKER_VERSION = "24.0.7"
COMPOSE_VERSION = "2.21.0"
API_VERSION = "1.43"


class Fail(Exception):
    """Exit with a message on stderr (like the real CLI would)."""

    def __init__(self, msg, code=1):
        super().__init__(msg)
        self.msg = msg
        self.code = code


def err(msg):
    sys.stderr.write(msg if msg.endswith("\n") else msg + "\n")
    sys.stderr.flush()


def out(msg=""):
    sys.stdout.write(msg if msg.endswith("\n") else msg + "\n")
    sys.stdout.flush()


def host_conf():
    try:
        with open(HOSTCONF) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------
# call log and fault injection


def record(fault=None):
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    entry = {
        "ts": time.time(),
        "argv": [PROG] + ARGS,
        "cwd": cwd,
        "uid": os.getuid(),
        "pid": os.getpid(),
        "sudo_user": os.environ.get("SUDO_USER"),
        "fault": fault,
    }
    line = (json.dumps(entry) + "\n").encode()
    try:
        fd = os.open(CALLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        err("testbed stand-in: cannot write %s: %s" % (CALLS, e))
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def _rule_match(rule, hay):
    """A rule matches when its `match` is a substring of the space-joined argv
    (program name first), or when the words of `match` appear in argv in that
    order (so "compose up" matches "docker compose -p alfa_c1 -f x.yml up -d"),
    and, if it has one, its `regex` is found in the joined argv."""
    if isinstance(rule, str):
        rule = {"match": rule}
    m = rule.get("match", "")
    if not isinstance(m, str):
        return False
    ok = m in hay
    if not ok:
        words = m.split()
        it = iter(hay.split(" "))
        ok = bool(words) and all(any(w == a for a in it) for w in words)
    if ok and rule.get("regex"):
        ok = re.search(rule["regex"], hay) is not None
    return ok


def load_faults():
    """Read standin.json, consume `times` of the rules that fire, return actions."""
    try:
        fd = os.open(STANDIN, os.O_RDWR)
        writable = True
    except FileNotFoundError:
        return {}
    except PermissionError:
        fd = os.open(STANDIN, os.O_RDONLY)
        writable = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            raw += chunk
        if not raw.strip():
            return {}
        try:
            cfg = json.loads(raw)
            if not isinstance(cfg, dict):
                raise ValueError("top level must be an object")
        except ValueError as e:
            raise Fail("testbed stand-in: %s is not valid JSON: %s" % (STANDIN, e), 97)
        hay = " ".join([PROG] + ARGS)
        actions = {"delay_ms": cfg.get("delay_ms", 0) or 0}
        changed = False
        for kind in ("sleep", "hang", "fail"):
            rules = cfg.get(kind) or []
            if not isinstance(rules, list):
                raise Fail("testbed stand-in: %s: %r must be a list" % (STANDIN, kind), 97)
            for i, rule in enumerate(rules):
                if not _rule_match(rule, hay):
                    continue
                actions[kind] = rule if isinstance(rule, dict) else {"match": rule}
                if isinstance(rule, dict) and "times" in rule:
                    rule["times"] = int(rule["times"]) - 1
                    if rule["times"] <= 0:
                        rules.pop(i)
                    changed = True
                break
        if changed and writable:
            data = (json.dumps(cfg, indent=1) + "\n").encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
        return actions
    finally:
        os.close(fd)


def apply_faults():
    """Record the call and apply delay/sleep/hang/fail. Returns normally if the
    real work should go on."""
    try:
        a = load_faults()
    except Fail as e:
        record("bad-standin-json")
        err(e.msg)
        sys.exit(e.code)
    fault = None
    if "hang" in a:
        fault = "hang"
    elif "fail" in a:
        fault = "fail"
    elif "sleep" in a:
        fault = "sleep"
    record(fault)
    if a.get("delay_ms"):
        time.sleep(float(a["delay_ms"]) / 1000.0)
    if "sleep" in a:
        time.sleep(float(a["sleep"].get("seconds", 1)))
    if "hang" in a:
        while True:
            time.sleep(3600)
    if "fail" in a:
        r = a["fail"]
        if r.get("stdout"):
            out(r["stdout"])
        err(r.get("stderr") or "testbed stand-in: injected failure for %r" % r.get("match"))
        sys.exit(int(r.get("exit", 1)))


# --------------------------------------------------------------------------
# docker state


class State:
    def __init__(self):
        self.fd = None
        self.data = None

    def __enter__(self):
        try:
            self.fd = os.open(STATE, os.O_RDWR)
        except FileNotFoundError:
            self.fd = os.open(STATE, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        raw = b""
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                break
            raw += chunk
        try:
            self.data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            self.data = {}
        self.data.setdefault("images", [])
        self.data.setdefault("projects", {})
        return self

    def save(self):
        blob = (json.dumps(self.data, indent=1, sort_keys=True) + "\n").encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, blob)

    def __exit__(self, *exc):
        os.close(self.fd)
        return False

    # images -------------------------------------------------------------
    @property
    def images(self):
        return self.data["images"]

    @property
    def projects(self):
        return self.data["projects"]

    def find_image(self, ref):
        ref = norm_ref(ref)
        repo, tag = split_ref(ref)
        for im in self.images:
            if im["repo"] == repo and im["tag"] == tag:
                return im
        r = ref.lower()
        if r.startswith("sha256:"):
            r = r[7:]
        if re.fullmatch(r"[0-9a-f]{4,64}", r):
            for im in self.images:
                if im["id"][7:].startswith(r):
                    return im
        return None

    def used_image_ids(self):
        ids = set()
        for p in self.projects.values():
            for s in p.get("services", {}).values():
                ids.add(s.get("image_id"))
        return ids

    def add_image(self, repo, tag, image_id=None, size=None, created=None):
        if repo != "<none>":
            self.untag_to_dangling(repo, tag)
        image_id = image_id or new_id()
        if size is None:
            size = 350_000_000 + int(hashlib.sha256(image_id.encode()).hexdigest()[:6], 16) % 500_000_000
        im = {"repo": repo, "tag": tag, "id": image_id, "created": created or now_iso(), "size": int(size)}
        self.images.append(im)
        return im

    def untag_to_dangling(self, repo, tag):
        for im in list(self.images):
            if im["repo"] == repo and im["tag"] == tag:
                self.images.remove(im)
                if not any(o["id"] == im["id"] for o in self.images):
                    d = dict(im)
                    d["repo"], d["tag"] = "<none>", "<none>"
                    self.images.append(d)


def new_id():
    return "sha256:" + os.urandom(32).hex()


def now_iso(ts=None):
    ts = time.time() if ts is None else ts
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return time.time()


def docker_time(iso):
    ts = parse_iso(iso)
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def human_duration(seconds):
    s = max(0, int(seconds))
    if s < 1:
        return "Less than a second"
    if s < 60:
        return "%d seconds" % s
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return "%d minutes" % m
    h = m // 60
    if h == 1:
        return "About an hour"
    if h < 48:
        return "%d hours" % h
    d = h // 24
    if d < 14:
        return "%d days" % d
    if d < 60:
        return "%d weeks" % (d // 7)
    if d < 730:
        return "%d months" % (d // 30)
    return "%d years" % (d // 365)


def human_size(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            s = ("%.3g" % n)
            return s + unit
        n /= 1000.0
    return "%dB" % n


def norm_ref(ref):
    for p in ("docker.io/library/", "library/"):
        if ref.startswith(p):
            ref = ref[len(p):]
    return ref


def split_ref(ref):
    ref = norm_ref(ref)
    if "@" in ref:
        ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
    else:
        repo, tag = ref, "latest"
    return repo, tag


# --------------------------------------------------------------------------
# docker --format templates (a small subset of Go templates)

TPL = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def render(fmt, obj, header=False):
    f = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if f.startswith("table"):
        f = f[5:].strip()
        if header:
            return TPL.sub(lambda m: re.sub(r"(?<=[a-z])(?=[A-Z])", " ", m.group(2)).upper(), f)
    elif header:
        return None
    rest = TPL.sub("", f)
    if "{{" in rest:
        raise Fail('template parsing error: template: :1: function not supported by the testbed stand-in: %s' % fmt)

    def sub(m):
        path = [p for p in m.group(2).split(".") if p]
        v = obj
        for p in path:
            if isinstance(v, dict) and p in v:
                v = v[p]
            else:
                raise Fail('template: :1:%d: executing "" at <.%s>: can\'t evaluate field %s' % (m.start() + 2, m.group(2), p))
        if m.group(1):
            return json.dumps(v, separators=(",", ":"))
        if isinstance(v, (dict, list)):
            return json.dumps(v, separators=(",", ":"))
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return TPL.sub(sub, f)


def print_rows(rows, fmt, default_cols):
    """rows: list of dicts; fmt: --format or None; default_cols: [(HEADER, key)]"""
    if fmt == "json":
        fmt = "{{json .}}"
    if fmt:
        h = render(fmt, {}, header=True) if fmt.startswith("table") else None
        lines = [render(fmt, r) for r in rows]
        if h is not None:
            lines.insert(0, h)
        if h is not None:
            lines = align_tab(lines)
        for line in lines:
            out(line)
        return
    table = [[c[0] for c in default_cols]] + [[str(r.get(c[1], "")) for c in default_cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(default_cols))]
    for row in table:
        out("   ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())


def align_tab(lines):
    split = [ln.split("\t") for ln in lines]
    n = max(len(s) for s in split)
    widths = [max((len(s[i]) for s in split if i < len(s)), default=0) for i in range(n)]
    return ["   ".join(v.ljust(widths[i]) for i, v in enumerate(s)).rstrip() for s in split]


# --------------------------------------------------------------------------
# option parsing helpers


def take_opts(args, with_value, flags, stop_at_positional=False):
    """Parse leading/mixed options. Returns (opts dict of lists, positionals)."""
    opts = {}
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if stop_at_positional and pos:
            pos.extend(args[i:])
            break
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            if k in with_value:
                opts.setdefault(k, []).append(v)
                i += 1
                continue
            if k in flags:
                opts.setdefault(k, []).append(v)
                i += 1
                continue
            raise Fail("unknown flag: %s" % k)
        if a in with_value:
            if i + 1 >= len(args):
                raise Fail("flag needs an argument: %s" % a)
            opts.setdefault(a, []).append(args[i + 1])
            i += 2
            continue
        if a in flags:
            opts.setdefault(a, []).append(True)
            i += 1
            continue
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and all(("-" + c) in flags for c in a[1:]):
            for c in a[1:]:
                opts.setdefault("-" + c, []).append(True)
            i += 1
            continue
        if a.startswith("-") and a != "-":
            raise Fail("unknown flag: %s\nSee 'docker --help'." % a)
        pos.append(a)
        i += 1
    return opts, pos


def has(opts, *names):
    return any(n in opts for n in names)


def last(opts, *names, default=None):
    for n in names:
        if n in opts:
            return opts[n][-1]
    return default


# --------------------------------------------------------------------------
# docker


def image_row(im):
    short = im["id"][7:19]
    created = parse_iso(im["created"])
    return {
        "Containers": "N/A",
        "CreatedAt": docker_time(im["created"]),
        "CreatedSince": human_duration(time.time() - created) + " ago",
        "Digest": "<none>",
        "ID": short,
        "Repository": im["repo"],
        "SharedSize": "N/A",
        "Size": human_size(im["size"]),
        "Tag": im["tag"],
        "UniqueSize": "N/A",
        "VirtualSize": human_size(im["size"]),
    }


def cmd_images(args):
    opts, pos = take_opts(args, {"--format", "-f", "--filter"}, {"-a", "--all", "-q", "--quiet", "--no-trunc", "--digests"})
    with State() as st:
        imgs = list(st.images)
    flt_repo = flt_tag = None
    if pos:
        if len(pos) > 1:
            raise Fail('"docker images" requires at most 1 argument.')
        ref = norm_ref(pos[0])
        last_part = ref.rsplit("/", 1)[-1]
        if ":" in last_part:
            flt_repo, flt_tag = ref.rsplit(":", 1)
        else:
            flt_repo = ref
    for f in opts.get("--filter", []) + opts.get("-f", []):
        k, _, v = f.partition("=")
        if k == "reference":
            if ":" in v.rsplit("/", 1)[-1]:
                flt_repo, flt_tag = v.rsplit(":", 1)
            else:
                flt_repo = v
        elif k == "dangling":
            imgs = [i for i in imgs if (i["repo"] == "<none>") == (v == "true")]
    if flt_repo is not None:
        imgs = [i for i in imgs if i["repo"] == flt_repo and (flt_tag is None or i["tag"] == flt_tag)]
    imgs.sort(key=lambda i: i["created"], reverse=True)
    rows = [image_row(i) for i in imgs]
    if has(opts, "--no-trunc"):
        for r, i in zip(rows, imgs):
            r["ID"] = i["id"]
    if has(opts, "-q", "--quiet"):
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
                out(r["ID"])
        return 0
    print_rows(rows, last(opts, "--format"), [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")])
    return 0


def image_inspect_obj(st, im):
    tags = ["%s:%s" % (o["repo"], o["tag"]) for o in st.images if o["id"] == im["id"] and o["repo"] != "<none>"]
    return {
        "Id": im["id"],
        "RepoTags": tags,
        "RepoDigests": [],
        "Parent": "",
        "Comment": "",
        "Created": im["created"].replace("Z", ".000000000Z"),
        "DockerVersion": "",
        "Author": "",
        "Config": {"Cmd": ["php-fpm"], "WorkingDir": "/var/www/html", "ExposedPorts": {"80/tcp": {}}, "Labels": {"org.alfa.testbed": "stand-in"}},
        "Architecture": "amd64",
        "Os": "linux",
        "Size": im["size"],
        "VirtualSize": im["size"],
    }


def cmd_image_inspect(args):
    opts, pos = take_opts(args, {"--format", "-f", "--type"}, {"--size", "-s"})
    if not pos:
        raise Fail('"docker image inspect" requires at least 1 argument.')
    res = []
    missing = []
    with State() as st:
        for ref in pos:
            im = st.find_image(ref)
            if im is None:
                ct = find_container(st, ref)
                if ct is not None:
                    res.append(ct)
                    continue
                missing.append(ref)
                continue
            res.append(image_inspect_obj(st, im))
    fmt = last(opts, "--format", "-f")
    if fmt:
        for r in res:
            out(render(fmt, r))
    else:
        out(json.dumps(res, indent=4))
    if missing:
        for m in missing:
            err("Error: No such image: %s" % m)
        return 1
    return 0


def find_container(st, name):
    for pname, p in st.projects.items():
        for sname, s in p.get("services", {}).items():
            if name in (s.get("container"), s.get("container_id", "")[:12], s.get("container_id")):
                return {"Id": s.get("container_id"), "Name": "/" + s.get("container", ""), "Image": s.get("image_id"),
                        "Config": {"Image": s.get("image"), "Labels": {"com.docker.compose.project": pname, "com.docker.compose.service": sname}},
                        "State": {"Status": s.get("state"), "Running": s.get("state") == "running"}}
    return None


def cmd_build(args):
    opts, pos = take_opts(
        args,
        {"-t", "--tag", "-f", "--file", "--build-arg", "--target", "--platform", "--label", "--progress", "--network",
         "--cache-from", "--iidfile", "--secret", "--ssh", "--output", "-o", "--add-host", "--shm-size", "-m", "--memory"},
        {"-q", "--quiet", "--no-cache", "--pull", "--rm", "--force-rm", "--load", "--push"},
    )
    if len(pos) != 1:
        raise Fail('ERROR: "docker buildx build" requires exactly 1 argument.\nSee \'docker buildx build --help\'.')
    ctx = pos[0]
    if ctx != "-" and not os.path.isdir(ctx):
        raise Fail('ERROR: unable to prepare context: path "%s" not found' % ctx)
    dockerfile = last(opts, "-f", "--file")
    if dockerfile is None:
        dockerfile = os.path.join(ctx, "Dockerfile")
    if ctx != "-" and dockerfile != "-" and not os.path.isfile(dockerfile):
        raise Fail("ERROR: failed to solve: failed to read dockerfile: open %s: no such file or directory" % os.path.basename(dockerfile))
    tags = opts.get("-t", []) + opts.get("--tag", [])
    for t in tags:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?", norm_ref(t)):
            raise Fail('ERROR: invalid tag "%s": invalid reference format' % t)
    quiet = has(opts, "-q", "--quiet")
    steps = [
        '#0 building with "default" instance using docker driver',
        "#1 [internal] load build definition from %s" % os.path.basename(dockerfile),
        "#1 DONE 0.0s",
        "#2 [internal] load .dockerignore",
        "#2 DONE 0.0s",
        "#3 [1/4] FROM docker.io/library/php:8.3-fpm",
        "#3 CACHED",
        "#4 [2/4] COPY . /var/www/html",
        "#4 DONE 0.4s",
        "#5 [3/4] RUN composer install --no-dev --optimize-autoloader",
        "#5 DONE 1.2s",
        "#6 [4/4] RUN php artisan optimize",
        "#6 DONE 0.3s",
        "#7 exporting to image",
    ]
    if not quiet:
        for s in steps:
            err(s)
    with State() as st:
        image_id = new_id()
        if not tags:
            st.add_image("<none>", "<none>", image_id)
        for t in tags:
            repo, tag = split_ref(t)
            st.add_image(repo, tag, image_id)
        st.save()
    if quiet:
        out(image_id)
    else:
        err("#7 writing image %s done" % image_id)
        for t in tags:
            repo, tag = split_ref(t)
            err("#7 naming to docker.io/library/%s:%s done" % (repo, tag))
        err("#7 DONE 0.2s")
    return 0


def cmd_tag(args):
    opts, pos = take_opts(args, set(), set())
    if len(pos) != 2:
        raise Fail('"docker tag" requires exactly 2 arguments.')
    with State() as st:
        im = st.find_image(pos[0])
        if im is None:
            raise Fail("Error response from daemon: No such image: %s" % pos[0])
        repo, tag = split_ref(pos[1])
        st.untag_to_dangling(repo, tag)
        # a dangling copy of the same id is no longer dangling
        st.data["images"] = [o for o in st.images if not (o["id"] == im["id"] and o["repo"] == "<none>")]
        st.images.append({"repo": repo, "tag": tag, "id": im["id"], "created": im["created"], "size": im["size"]})
        st.save()
    return 0


def cmd_rmi(args):
    opts, pos = take_opts(args, set(), {"-f", "--force", "--no-prune"})
    if not pos:
        raise Fail('"docker rmi" requires at least 1 argument.')
    rc = 0
    with State() as st:
        for ref in pos:
            im = st.find_image(ref)
            if im is None:
                err("Error response from daemon: No such image: %s" % ref)
                rc = 1
                continue
            users = [s.get("container") for p in st.projects.values() for s in p.get("services", {}).values() if s.get("image_id") == im["id"]]
            by_id = re.fullmatch(r"(sha256:)?[0-9a-f]{4,64}", ref) is not None and not ref.startswith(im["repo"])
            same = [o for o in st.images if o["id"] == im["id"]]
            if by_id and len(same) > 1 and not has(opts, "-f", "--force"):
                err("Error response from daemon: conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories" % im["id"][7:19])
                rc = 1
                continue
            if users and (len(same) == 1 or by_id) and not has(opts, "-f", "--force"):
                err("Error response from daemon: conflict: unable to remove repository reference \"%s\" (must force) - container %s is using its referenced image %s" % (ref, users[0], im["id"][7:19]))
                rc = 1
                continue
            targets = same if by_id else [im]
            for t in targets:
                if t["repo"] != "<none>":
                    out("Untagged: %s:%s" % (t["repo"], t["tag"]))
                st.images.remove(t)
            if not any(o["id"] == im["id"] for o in st.images):
                if users:
                    st.images.append(dict(im, repo="<none>", tag="<none>"))
                else:
                    out("Deleted: %s" % im["id"])
        st.save()
    return rc


def prune_images(st, all_unused):
    used = st.used_image_ids()
    removed = []
    for im in list(st.images):
        if im["id"] in used:
            continue
        if not all_unused and im["repo"] != "<none>":
            continue
        st.images.remove(im)
        removed.append(im)
    return removed


def report_pruned(removed, header="Deleted Images:"):
    if not removed:
        out("Total reclaimed space: 0B")
        return
    out(header)
    seen = set()
    total = 0
    for im in removed:
        if im["repo"] != "<none>":
            out("untagged: %s:%s" % (im["repo"], im["tag"]))
    for im in removed:
        if im["id"] not in seen:
            seen.add(im["id"])
            total += im["size"]
            out("deleted: %s" % im["id"])
    out("")
    out("Total reclaimed space: %s" % human_size(total))


def cmd_image_prune(args):
    opts, pos = take_opts(args, {"--filter"}, {"-a", "--all", "-f", "--force"})
    if not has(opts, "-f", "--force"):
        raise Fail("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] (no terminal: refusing; use --force)")
    with State() as st:
        removed = prune_images(st, has(opts, "-a", "--all"))
        st.save()
    report_pruned(removed)
    return 0


def cmd_system_prune(args):
    opts, pos = take_opts(args, {"--filter"}, {"-a", "--all", "-f", "--force", "--volumes"})
    if not has(opts, "-f", "--force"):
        raise Fail("WARNING! This will remove all stopped containers ... Are you sure you want to continue? [y/N] (no terminal: refusing; use --force)")
    with State() as st:
        gone = []
        for pname, p in list(st.projects.items()):
            for sname, s in list(p.get("services", {}).items()):
                if s.get("state") != "running":
                    gone.append(s.get("container_id"))
                    del p["services"][sname]
            if not p.get("services"):
                del st.projects[pname]
        removed = prune_images(st, has(opts, "-a", "--all"))
        st.save()
    if gone:
        out("Deleted Containers:")
        for g in gone:
            out(g)
        out("")
    report_pruned(removed)
    return 0


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


def cmd_pull(args):
    opts, pos = take_opts(args, {"--platform"}, {"-q", "--quiet", "-a", "--all-tags"})
    if len(pos) != 1:
        raise Fail('"docker pull" requires exactly 1 argument.')
    with State() as st:
        im = st.find_image(pos[0])
    repo, tag = split_ref(pos[0])
    if im is None:
        raise Fail("Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied" % repo)
    out("%s: Pulling from library/%s\nDigest: sha256:%s\nStatus: Image is up to date for %s:%s" % (tag, repo, im["id"][7:], repo, tag))
    return 0


# --------------------------------------------------------------------------
# docker compose

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def parse_port(spec):
    """Return (ip, published, target) or None."""
    if isinstance(spec, dict):
        try:
            return (spec.get("host_ip", ""), int(spec.get("published")), int(spec.get("target")))
        except (TypeError, ValueError):
            return None
    s = str(spec).split("/", 1)[0]
    parts = s.rsplit(":", 2)
    try:
        if len(parts) == 3:
            return (parts[0].strip("[]"), int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            return ("", int(parts[0]), int(parts[1]))
    except ValueError:
        return None
    return None


def interpolate(text, env):
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(3)
        default = m.group(2)
        v = env.get(name)
        if (v is None or v == "") and default is not None:
            return default[2:] if default.startswith(":-") else default[1:]
        return v or ""

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?-)[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, text)


def read_env_file(path):
    env = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, v = line.split("=", 1)
                k = k.strip()
                if k.startswith("export "):
                    k = k[7:].strip()
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                    v = v[1:-1]
                env[k] = v
    except OSError:
        pass
    return env


def simple_yaml(text):
    """A tiny YAML subset parser for compose files when PyYAML is missing:
    nested mappings by indentation, block lists of scalars, flow lists."""
    root = {}
    stack = [(-1, root)]
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        lines.append(raw)
    i = 0

    def scalar(v):
        v = v.strip()
        if " #" in v:
            v = v.split(" #", 1)[0].rstrip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            return v[1:-1]
        if v.startswith("[") and v.endswith("]"):
            return [scalar(x) for x in v[1:-1].split(",") if x.strip()]
        return v

    while i < len(lines):
        raw = lines[i]
        ind = len(raw) - len(raw.lstrip())
        s = raw.strip()
        while stack and stack[-1][0] >= ind:
            stack.pop()
        parent = stack[-1][1]
        if s.startswith("- "):
            if isinstance(parent, list):
                parent.append(scalar(s[2:]))
        elif ":" in s:
            k, _, v = s.partition(":")
            k = scalar(k)
            if v.strip():
                if isinstance(parent, dict):
                    parent[k] = scalar(v)
            else:
                nxt = lines[i + 1] if i + 1 < len(lines) else ""
                child = [] if nxt.strip().startswith("- ") else {}
                if isinstance(parent, dict):
                    parent[k] = child
                stack.append((ind, child))
        i += 1
    return root


def load_compose(files, env):
    merged = {}
    for fp in files:
        try:
            with open(fp) as f:
                text = f.read()
        except OSError as e:
            raise Fail("open %s: %s" % (fp, e.strerror.lower() if e.strerror else e))
        text = interpolate(text, env)
        try:
            import yaml  # noqa: PLC0415

            doc = yaml.safe_load(text) or {}
        except ImportError:
            doc = simple_yaml(text)
        except Exception as e:  # yaml.YAMLError
            raise Fail("yaml: %s: %s" % (fp, e))
        if not isinstance(doc, dict):
            raise Fail("Top-level object must be a mapping: %s" % fp)
        for k, v in doc.items():
            if k == "services" and isinstance(v, dict):
                svc = merged.setdefault("services", {})
                for sn, sv in v.items():
                    svc.setdefault(sn, {}).update(sv or {})
            else:
                merged[k] = v
    return merged


class Compose:
    def __init__(self, args, v1=False):
        self.v1 = v1
        self.files = []
        self.project = None
        self.project_dir = None
        self.env_files = []
        i = 0
        with_value = {"-p", "--project-name", "-f", "--file", "--project-directory", "--env-file", "--ansi", "--progress",
                      "--profile", "--parallel", "-H", "--host", "--context"}
        flags = {"--compatibility", "--dry-run", "--verbose", "--no-ansi", "--skip-hostname-check", "--tls"}
        while i < len(args):
            a = args[i]
            k, eq, v = a.partition("=")
            if a.startswith("--") and eq and k in with_value:
                a, val, step = k, v, 1
            elif a in with_value:
                if i + 1 >= len(args):
                    raise Fail("flag needs an argument: %s" % a)
                val, step = args[i + 1], 2
            elif a in flags:
                i += 1
                continue
            else:
                break
            if a in ("-p", "--project-name"):
                self.project = val
            elif a in ("-f", "--file"):
                self.files.append(val)
            elif a == "--project-directory":
                self.project_dir = val
            elif a == "--env-file":
                self.env_files.append(val)
            i += step
        self.cmd = args[i] if i < len(args) else None
        self.args = args[i + 1:]
        cwd = os.getcwd()
        if self.files:
            self.files = [os.path.abspath(f) for f in self.files]
            for f in self.files:
                if not os.path.isfile(f):
                    raise Fail("open %s: no such file or directory" % f, 14 if not v1 else 1)
        else:
            base = self.project_dir or cwd
            for n in COMPOSE_NAMES:
                if os.path.isfile(os.path.join(base, n)):
                    self.files = [os.path.abspath(os.path.join(base, n))]
                    break
        if self.project_dir is None:
            self.project_dir = os.path.dirname(self.files[0]) if self.files else cwd
        self.project_dir = os.path.abspath(self.project_dir)
        env = {}
        for ef in self.env_files or [os.path.join(self.project_dir, ".env")]:
            env.update(read_env_file(ef))
        env.update(os.environ)
        self.env = env
        self.config = None
        if self.files:
            self.config = load_compose(self.files, env)
        if self.project is None:
            self.project = env.get("COMPOSE_PROJECT_NAME") or (self.config or {}).get("name") or \
                re.sub(r"[^a-z0-9_-]", "", os.path.basename(self.project_dir).lower())
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.project or ""):
            raise Fail('invalid project name "%s": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number' % self.project)

    def need_config(self):
        if self.config is None:
            raise Fail("no configuration file provided: not found", 14)
        if not isinstance(self.config.get("services"), dict) or not self.config["services"]:
            raise Fail("no service selected")
        return self.config

    def cname(self, svc):
        return "%s%s%s%s1" % (self.project, "_" if self.v1 else "-", svc, "_" if self.v1 else "-")

    def progress(self, kind, name, what):
        err(" %s %s  %s" % (kind, name, what))


# ---- the fake LIMS app: a tiny HTTP server per running service with published ports

def _pid_is_app(pid):
    try:
        with open("/proc/%d/cmdline" % int(pid), "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError, TypeError):
        return False
    return os.path.join(BIN, "alfa-fakeapp") in cmd


def app_stop(s):
    pid = s.pop("app_pid", None)
    if pid and _pid_is_app(pid):
        try:
            os.kill(int(pid), 15)
        except OSError:
            pass


def app_start(project, sname, s):
    """(Re)start the service's fake app. It listens on the host's own address at
    each published port (127.0.0.1:8001:80 -> 127.0.0.11:8001), and also on the
    published address itself when that can be bound (127.0.0.1 is shared by all
    test hosts)."""
    app_stop(s)
    addr = host_conf().get("addr")
    binds = []
    for spec in s.get("ports", []):
        pp = parse_port(spec)
        if not pp:
            continue
        ip, pub, _target = pp
        if addr:
            binds.append("%s:%d" % (addr, pub))
        extra = "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip
        if extra != addr:
            binds.append("%s:%d" % (extra, pub))
    if not binds:
        return
    import subprocess  # noqa: PLC0415

    try:
        logf = open(os.path.join(HOST, "apps.log"), "ab")
    except OSError:
        logf = subprocess.DEVNULL
    p = subprocess.Popen([os.path.join(BIN, "alfa-fakeapp"), project, sname, str(s.get("image"))] + binds,
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True, close_fds=True)
    s["app_pid"] = p.pid


def fakeapp(args):
    """alfa-fakeapp PROJECT SERVICE IMAGE ADDR:PORT... — GET /up answers 200
    (500 when PROJECT is listed in standin.json "unhealthy"); other paths answer
    a small page naming the project and image."""
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    project, service, image = args[:3]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            code = 200
            if path == "/up":
                try:
                    with open(STANDIN) as f:
                        bad = json.load(f).get("unhealthy") or []
                except (OSError, ValueError, AttributeError):
                    bad = []
                if project in bad:
                    code, body = 500, "unhealthy (testbed standin.json)\n"
                else:
                    body = "<!DOCTYPE html><html><body>Application up</body></html>\n"
            else:
                body = ("<!DOCTYPE html><html><body><h1>alfa testbed fake LIMS</h1><p>project %s, service %s, "
                        "image %s, host %s</p></body></html>\n" % (project, service, image, os.path.basename(HOST)))
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Alfa-Testbed-Project", project)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_HEAD = do_GET

        def log_message(self, fmt, *a):
            pass

    servers = []
    for b in args[3:]:
        ip, _, port = b.rpartition(":")
        try:
            http.server.ThreadingHTTPServer.allow_reuse_address = True
            servers.append(http.server.ThreadingHTTPServer((ip, int(port)), Handler))
        except (OSError, ValueError) as e:
            err("alfa-fakeapp %s: cannot listen on %s: %s" % (project, b, e))
    if not servers:
        return 1
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    servers[0].serve_forever()
    return 0


def resolve_rel(base, p):
    p = os.path.expanduser(str(p))
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


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


# ---- artisan inside `compose exec`

SQL_MIGRATION = "0001_01_01_000000_create_users_table"


def db_env(svc):
    env = {}
    for ef in svc.get("env_file", []):
        env.update(read_env_file(ef))
    return env


def run_sql(env, sql):
    """Run SQL with the client DB's credentials from the container's env file.
    Returns stdout; raises Fail with a Laravel-like message."""
    conn = (env.get("DB_CONNECTION") or "").lower()
    host = env.get("DB_HOST") or "127.0.0.1"
    if host in ("host.docker.internal", "host-gateway", "172.17.0.1", "localhost"):
        host = "127.0.0.1"
    db = env.get("DB_DATABASE") or ""
    user = env.get("DB_USERNAME") or ""
    pw = env.get("DB_PASSWORD") or ""
    if conn in ("mysql", "mariadb"):
        port = env.get("DB_PORT") or "3306"
        cmd = ["mariadb" if os.path.exists("/usr/bin/mariadb") else "mysql", "--protocol=tcp", "-h", host, "-P", port,
               "-u", user, "-N", "-B", db, "-e", sql]
        penv = dict(os.environ, MYSQL_PWD=pw)
    elif conn in ("pgsql", "postgres", "postgresql"):
        port = env.get("DB_PORT") or "5432"
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", db, "-c", sql]
        penv = dict(os.environ, PGPASSWORD=pw, PGCONNECT_TIMEOUT="5")
    else:
        raise Fail("\n   InvalidArgumentException \n\n  Database connection [%s] not configured.\n(testbed stand-in: DB_CONNECTION must be mysql or pgsql in the client's env_file)" % conn)
    if not db:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  DB_DATABASE is empty in the client's env_file (testbed stand-in)")
    import subprocess  # noqa: PLC0415 (only artisan needs it; keeps every other call fast)

    try:
        p = subprocess.run(cmd, env=penv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise Fail("testbed stand-in: SQL client %s is not installed on this host" % cmd[0])
    except subprocess.TimeoutExpired:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[HY000] [2002] Connection timed out (host %s port %s)" % (host, port))
    if p.returncode != 0:
        raise Fail("\n   Illuminate\\Database\\QueryException \n\n  SQLSTATE[HY000]: %s (Connection: %s, Host: %s, Port: %s, Database: %s)"
                   % (p.stderr.strip().replace("\n", " "), conn, host, port, db))
    return p.stdout


def artisan(svc, argv):
    sub = argv[0] if argv else "list"
    rest = argv[1:]
    if sub in ("--version", "-V"):
        out("Laravel Framework 11.9.2")
        return 0
    env = db_env(svc)
    pg = (env.get("DB_CONNECTION") or "").lower() in ("pgsql", "postgres", "postgresql")
    if sub == "migrate":
        if pg:
            idcol = "id serial primary key"
            uid = "id bigserial primary key"
            ts = "timestamp(0) null"
        else:
            idcol = "id int unsigned auto_increment primary key"
            uid = "id bigint unsigned auto_increment primary key"
            ts = "timestamp null"
        sql = (
            "CREATE TABLE IF NOT EXISTS migrations (%s, migration varchar(255) not null, batch int not null);"
            "SELECT COUNT(*) FROM migrations WHERE migration = '%s';"
            "CREATE TABLE IF NOT EXISTS users (%s, name varchar(255) not null, email varchar(255) not null unique, "
            "email_verified_at %s, password varchar(255) not null, remember_token varchar(100) null, created_at %s, updated_at %s);"
            "INSERT INTO migrations (migration, batch) SELECT '%s', 1 %s WHERE NOT EXISTS (SELECT 1 FROM migrations WHERE migration = '%s');"
            % (idcol, SQL_MIGRATION, uid, ts, ts, ts, SQL_MIGRATION, "" if pg else "FROM DUAL", SQL_MIGRATION)
        )
        res = run_sql(env, sql).split()
        if res and res[0] != "0":
            out("\n   INFO  Nothing to migrate.\n")
        else:
            out("\n   INFO  Preparing database.\n\n  Creating migration table ............................... 4ms DONE\n\n"
                "   INFO  Running migrations.\n\n  %s ................................ 9ms DONE\n" % SQL_MIGRATION)
        return 0
    if sub == "db:seed":
        cls = "DatabaseSeeder"
        for i, a in enumerate(rest):
            if a.startswith("--class="):
                cls = a.split("=", 1)[1]
            elif a == "--class" and i + 1 < len(rest):
                cls = rest[i + 1]
        run_sql(env, "SELECT COUNT(*) FROM migrations;")  # fails like Laravel when not migrated
        idc = "id serial primary key" if pg else "id int unsigned auto_increment primary key"
        mk = "CREATE TABLE IF NOT EXISTS demo_records (%s, name varchar(255) not null, created_at %s);" % (idc, "timestamp(0) null" if pg else "timestamp null")
        if "inverse" in cls.lower():
            run_sql(env, mk + "DELETE FROM demo_records;")
        elif "demo" in cls.lower():
            run_sql(env, mk + "INSERT INTO demo_records (name, created_at) SELECT x.n, CURRENT_TIMESTAMP FROM "
                    "(SELECT 'Demo sample 1' AS n UNION ALL SELECT 'Demo sample 2' UNION ALL SELECT 'Demo sample 3') x "
                    "WHERE NOT EXISTS (SELECT 1 FROM demo_records);")
        out("\n   INFO  Seeding database.\n\n  Database\\Seeders\\%s ........................ RUNNING\n  Database\\Seeders\\%s ..................... 12 ms DONE\n\nDatabase seeding completed successfully." % (cls, cls))
        return 0
    out("\n   INFO  Done (testbed stand-in: artisan %s).\n" % sub)
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
    if cmd == "ps" or (cmd == "container" and sub in ("ls", "list", "ps")):
        return cmd_ps(rest if cmd == "ps" else rest[1:])
    if cmd == "pull" or (cmd == "image" and sub == "pull"):
        return cmd_pull(rest if cmd == "pull" else rest[1:])
    raise Fail("docker: '%s' is not a docker command (not supported by the alfa testbed stand-in).\nSee 'docker --help'" % " ".join(args[:2]))


# --------------------------------------------------------------------------
# testbed-internal commands (not recorded): docker __testbed ...


def internal(args):
    if not args:
        raise Fail("usage: docker __testbed seed-image REPO:TAG... | reset-state | state")
    if args[0] == "seed-image":
        with State() as st:
            for i, ref in enumerate(args[1:]):
                repo, tag = split_ref(ref)
                if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*", repo) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
                    raise Fail("invalid image reference: %s" % ref, 2)
                if st.find_image(ref) is None:
                    st.add_image(repo, tag, created=now_iso(time.time() - 86400 * (7 - min(i, 6))))
            st.save()
        return 0
    if args[0] == "reset-state":
        with State() as st:
            for p in st.projects.values():
                for sv in p.get("services", {}).values():
                    app_stop(sv)
            st.data = {"images": [], "projects": {}}
            st.save()
        return 0
    if args[0] == "state":
        with State() as st:
            out(json.dumps(st.data, indent=1, sort_keys=True))
        return 0
    raise Fail("unknown internal command %s" % args[0], 2)


# --------------------------------------------------------------------------
# wrappers for real programs


def run_nginx():
    conf = host_conf()
    apply_faults()
    prefix = os.path.join(HOST, "nginx-prefix") + "/"
    os.execv(conf.get("nginx_bin", "/usr/sbin/nginx"),
             ["nginx", "-p", prefix, "-e", os.path.join(HOST, "nginx-prefix", "logs", "error.log"),
              "-c", os.path.join(HOST, "nginx.conf")] + ARGS)


def run_certbot():
    conf = host_conf()
    apply_faults()
    le = os.path.join(HOST, "letsencrypt")
    extra = ["--server", conf.get("pebble_url", "https://127.0.0.1:14000/dir"),
             "--config-dir", os.path.join(le, "config"), "--work-dir", os.path.join(le, "work"),
             "--logs-dir", os.path.join(le, "logs")]
    plugin_nginx = "--nginx" in ARGS or any(
        ARGS[i] in ("-i", "--installer", "-a", "--authenticator") and i + 1 < len(ARGS) and ARGS[i + 1] == "nginx"
        for i in range(len(ARGS)))
    if plugin_nginx:
        extra += ["--nginx-server-root", HOST, "--nginx-ctl", os.path.join(BIN, "nginx"), "--nginx-sleep-seconds", "0"]
    env = dict(os.environ)
    if conf.get("pebble_ca"):
        env["REQUESTS_CA_BUNDLE"] = conf["pebble_ca"]
    env["PATH"] = BIN + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    os.execve(conf.get("certbot_bin", "/usr/bin/certbot"), ["certbot"] + extra + ARGS, env)


def main():
    if PROG in ("docker", "docker-compose"):
        if ARGS[:1] == ["__testbed"]:
            try:
                return internal(ARGS[1:])
            except Fail as e:
                err(e.msg)
                return e.code
        apply_faults()
        try:
            if PROG == "docker-compose":
                return cmd_compose(ARGS, v1=True)
            return cmd_docker(ARGS)
        except Fail as e:
            err(e.msg)
            return e.code
        except BrokenPipeError:
            return 141
    if PROG == "alfa-fakeapp":
        return fakeapp(ARGS)
    if PROG == "nginx":
        run_nginx()
    if PROG == "certbot":
        run_certbot()
    if PROG in ("reboot", "shutdown", "poweroff", "halt"):
        apply_faults()
        return 0
    err("testbed stand-in: called as unknown name %r" % PROG)
    return 127


def run():
    try:
        return main()
    except OSError as e:
        if e.errno == errno.EPIPE:
            return 141
        raise
