"""Wrappers for the real nginx and certbot: faults first, then exec the real program on the
host's own config, pid, logs and Pebble."""

import os

from .calls import apply_faults
from .common import ARGS, BIN, HOST, host_conf


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
