"""Shared by the docker and compose commands: option parsing and output, including
docker's --format templates (a small subset of Go templates)."""

import json
import re

from .common import Fail, out


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
