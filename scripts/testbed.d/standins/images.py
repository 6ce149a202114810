"""docker image commands: images, image inspect, build, tag, rmi and pull."""

import json
import os
import re
import time

from .cli import has, last, print_rows, render, take_opts
from .common import Fail, err, out
from .containers import find_container
from .state import State, docker_time, human_duration, human_size, new_id, norm_ref, parse_iso, split_ref


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
        # what BuildKit keeps between builds: one intermediate layer per build, that
        # `docker builder prune` (without -a) removes
        st.data.setdefault("build_cache", []).append(
            {"id": new_id()[7:32], "size": 40_000_000 + int(image_id[7:13], 16) % 60_000_000, "in_use": False, "last_used": time.time()})
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
