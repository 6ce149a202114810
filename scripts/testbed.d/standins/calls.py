"""The call log (calls.jsonl) and the fault rules of standin.json (delay, sleep, hang, fail).
A `fail` rule with `"after": true` lets the call do its work first and then fail (a migration
that changed the database and then broke).

A call that only records itself and answers from a rule (the fleet benchmark makes 200 at once
on this machine's two cores) imports neither json nor re (with re, json costs the interpreter
~8 ms of CPU, more than its own start): the call's line is written by `_json_line`, and the
rules are read from a marshal cache of standin.json, used only when it was made of the very
bytes standin.json holds now."""

import atexit
import fcntl
import marshal
import os
import sys
import time

from .common import ARGS, CALLS, PROG, STANDIN, STANDIN_CACHE, Fail, err, out


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
    line = (_json_line(entry) + "\n").encode()
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


# JSON's escapes of the characters a string cannot hold as they are.
_ESCAPES = {i: "\\u%04x" % i for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def _json_line(value):
    """json.dumps(value) for the call log's values (None, bool, int, float, str, list, dict of
    str keys) without importing json; json itself for a string that is not ASCII."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if not value.isascii():
            import json  # noqa: PLC0415

            return json.dumps(value)
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_json_line(v) for v in value) + "]"
    return "{" + ", ".join(_json_line(k) + ": " + _json_line(v) for k, v in value.items()) + "}"


def _rules(raw):
    """standin.json's bytes `raw` parsed: from the marshal cache when it was made of these
    very bytes, else by json (then cached; only a stand-in that may write the host folder,
    i.e. one run by sudo, writes the cache). ValueError when it is not JSON."""
    try:
        with open(STANDIN_CACHE, "rb") as f:
            cached, cfg = marshal.load(f)
        if cached == raw:
            return cfg
    except Exception:  # noqa: BLE001  (no cache, or a torn or foreign one: parse)
        pass
    import json  # noqa: PLC0415

    cfg = json.loads(raw)
    tmp = "%s.%d" % (STANDIN_CACHE, os.getpid())
    try:
        with open(tmp, "wb") as f:
            marshal.dump((raw, cfg), f)
        os.replace(tmp, STANDIN_CACHE)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return cfg


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
        import re  # noqa: PLC0415

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
            cfg = _rules(raw)
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
            import json  # noqa: PLC0415

            data = (json.dumps(cfg, indent=1) + "\n").encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
        return actions
    finally:
        os.close(fd)


def apply_faults():
    """Record the call and apply delay/sleep/hang/fail. Returns normally if the
    real work should go on: then the fail rule to apply after the work (`after`), or None."""
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
        rule = a["sleep"]
        if rule.get("instead"):
            # The call is only its time: it prints the rule's stdout and succeeds, doing nothing.
            if "last_ms" in rule:
                _last_until(float(rule["last_ms"]) / 1000.0)
            else:
                time.sleep(float(rule.get("seconds", 1)))
            if rule.get("stdout"):
                out(rule["stdout"])
            sys.exit(0)
        if "last_ms" in rule:
            # The call lasts last_ms from its process's start (the interpreter's start included):
            # a command that "takes 300 ms", whatever its own work costs.
            atexit.register(_last_until, float(rule["last_ms"]) / 1000.0)
        else:
            time.sleep(float(rule.get("seconds", 1)))
    if "hang" in a:
        while True:
            time.sleep(3600)
    if "fail" in a:
        r = a["fail"]
        if r.get("after"):
            return r
        fail_now(r)
    return None


def _process_age():
    """Seconds since this process started (/proc: clock ticks since boot)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def _last_until(seconds):
    left = seconds - _process_age()
    if left > 0:
        time.sleep(left)


def fail_now(r):
    """Apply a fail rule: its stdout, its stderr, exit."""
    if r.get("stdout"):
        out(r["stdout"])
    err(r.get("stderr") or "testbed stand-in: injected failure for %r" % r.get("match"))
    sys.exit(int(r.get("exit", 1)))
