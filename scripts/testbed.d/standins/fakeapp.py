"""The fake LIMS app: a tiny HTTP server per running service with published ports
(bin/alfa-fakeapp), and how compose starts and stops it."""

import json
import os

from .common import BIN, HOST, STANDIN, err, host_conf
from .composefile import parse_port


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


def _unhealthy(rule, project, image, headers):
    """Whether an entry of standin.json "unhealthy" applies to this request."""
    if isinstance(rule, str):
        return rule == project
    if not isinstance(rule, dict) or rule.get("project") != project:
        return False
    if rule.get("image") not in (None, image):
        return False
    return rule.get("via") != "nginx" or headers.get("X-Forwarded-Proto") is not None


def fakeapp(args):
    """alfa-fakeapp PROJECT SERVICE IMAGE ADDR:PORT... — GET /up answers 200, or 500 when
    standin.json "unhealthy" lists PROJECT, or an object {"project": PROJECT, "image": IMAGE
    (optional: only while running that image), "via": "nginx" (optional: only for requests
    nginx passes on, which carry X-Forwarded-Proto)}; other paths answer a small page naming
    the project and image."""
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
                if any(_unhealthy(rule, project, image, self.headers) for rule in bad):
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
