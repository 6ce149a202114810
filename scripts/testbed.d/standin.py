#!/usr/bin/python3 -IS
"""Launcher of the alfa testbed stand-ins: docker, docker-compose, nginx, certbot,
reboot, shutdown and alfa-fakeapp are symlinks to this file; the code is the package
standins/ beside it (imported, so its byte code is cached and each call starts
fast). -I leaves the script's folder off sys.path, so it is put there by hand; -S skips
site (the stand-ins use the standard library only, and site's imports cost each call
about 3 ms of the test hosts' shared CPU)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
from standins.main import run  # noqa: E402

sys.exit(run())
