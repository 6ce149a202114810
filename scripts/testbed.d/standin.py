#!/usr/bin/python3 -I
"""Launcher of the alfa testbed stand-ins: docker, docker-compose, nginx, certbot,
reboot and shutdown are symlinks to this file; the code is in standin_lib.py
beside it (imported, so its byte code is cached and each call starts fast)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
import standin_lib  # noqa: E402

sys.exit(standin_lib.run())
