"""Clean-up: docker image prune, docker system prune (stopped containers first) and docker
builder prune (the build cache `docker build` leaves)."""

import time

from .cli import has, take_opts
from .common import Fail, out
from .state import State, human_duration, human_size


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


def cmd_builder_prune(args):
    """`docker builder prune [-a] [--filter …] [--keep-storage …] --force`: without `-a` only the
    cache no image refers to (`in_use` false); prints docker's table and `Total:`."""
    opts, pos = take_opts(args, {"--filter", "--keep-storage", "--builder"}, {"-a", "--all", "-f", "--force", "--verbose"})
    if pos:
        raise Fail('"docker builder prune" accepts no arguments.')
    if not has(opts, "-f", "--force"):
        raise Fail("WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] (no terminal: refusing; use --force)")
    with State() as st:
        cache = st.data.setdefault("build_cache", [])
        gone = [c for c in cache if has(opts, "-a", "--all") or not c.get("in_use")]
        st.data["build_cache"] = [c for c in cache if c not in gone]
        st.save()
    total = sum(c["size"] for c in gone)
    if gone:
        out("ID\t\t\t\t\t\tRECLAIMABLE\tSIZE\t\tLAST ACCESSED")
        now = time.time()
        for c in gone:
            out("%s\ttrue\t%s\t%s ago" % (c["id"], human_size(c["size"]), human_duration(now - c.get("last_used", now))))
    out("Total:\t%s" % human_size(total))
    return 0
