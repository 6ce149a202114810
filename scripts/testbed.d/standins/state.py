"""The docker stand-in's state file (docker-state.json: images and compose projects),
image references, ids and the way docker prints times and sizes."""

import datetime
import fcntl
import hashlib
import json
import os
import re
import time

from .common import STATE


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
