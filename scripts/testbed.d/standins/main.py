"""Dispatch by the name the stand-in was called by (argv[0]), and the testbed-internal
commands (`docker __testbed ...`, not recorded).

Each command imports only what it uses: a call that a fault rule answers (a `sleep` rule with
`instead`, a `fail`) never loads the docker model, so the stand-in's own start costs the test
hosts' shared CPU as little as it can (the fleet benchmark makes 200 such calls at once)."""

import errno

from .calls import apply_faults, fail_now
from .common import ARGS, PROG, Fail, err, out


def internal(args):
    import json  # noqa: PLC0415
    import re  # noqa: PLC0415
    import time  # noqa: PLC0415

    from .fakeapp import app_stop  # noqa: PLC0415
    from .state import State, now_iso, split_ref  # noqa: PLC0415

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


def main():
    if PROG in ("docker", "docker-compose"):
        if ARGS[:1] == ["__testbed"]:
            try:
                return internal(ARGS[1:])
            except Fail as e:
                err(e.msg)
                return e.code
        after = apply_faults()
        try:
            if PROG == "docker-compose":
                from .compose import cmd_compose  # noqa: PLC0415

                rc = cmd_compose(ARGS, v1=True)
            else:
                from .docker import cmd_docker  # noqa: PLC0415

                rc = cmd_docker(ARGS)
        except Fail as e:
            err(e.msg)
            return e.code
        except BrokenPipeError:
            return 141
        if after:
            fail_now(after)
        return rc
    if PROG == "alfa-fakeapp":
        from .fakeapp import fakeapp  # noqa: PLC0415

        return fakeapp(ARGS)
    if PROG == "nginx":
        from .wrappers import run_nginx  # noqa: PLC0415

        run_nginx()
    if PROG == "certbot":
        from .wrappers import run_certbot  # noqa: PLC0415

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
