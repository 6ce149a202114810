"""Compose projects as the compose CLI sees them: global options, project name, compose
files (PyYAML, or a tiny parser without it), ${VAR} interpolation, .env files, port specs."""

import os
import re

from .common import Fail, err


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


def resolve_rel(base, p):
    p = os.path.expanduser(str(p))
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))


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
