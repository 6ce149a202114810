"""What every stand-in knows: who it is (argv[0]), its host folder and that host's files,
the versions it claims, and how it fails and prints."""

import os
import sys


BIN = os.path.dirname(os.path.abspath(sys.argv[0]))
HOST = os.path.dirname(BIN)
PROG = os.path.basename(sys.argv[0])
ARGS = sys.argv[1:]
CALLS = os.path.join(HOST, "calls.jsonl")
STATE = os.path.join(HOST, "docker-state.json")
STANDIN = os.path.join(HOST, "standin.json")
# standin.json as parsed last, with the bytes it was parsed from (marshal: see calls.rules).
STANDIN_CACHE = os.path.join(HOST, ".standin.json.marshal")
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
    import json  # noqa: PLC0415  (json costs each call that never needs it ~8 ms: see calls.py)

    try:
        with open(HOSTCONF) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
