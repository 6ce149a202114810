"""Alfa Cloud testbed stand-ins (the code; bin/standin.py is the launcher).

Installed once per test host as <host>/bin/standins/, byte-compiled, with the
launcher <host>/bin/standin.py and symlinks to the launcher named docker,
docker-compose, nginx, certbot, reboot, shutdown and alfa-fakeapp. What it does
depends on the name it was called by (argv[0]): see main.py. The host directory
is the parent of the bin directory the symlink lives in, so it is known even under
sudo, which resets the environment.

Every call is appended to <host>/calls.jsonl as one JSON line:
  {"ts": 1715000000.123, "argv": ["docker", "compose", ...], "cwd": "/...",
   "uid": 0, "pid": 1234, "sudo_user": "alfa", "fault": null}
Faults and delays are read on every call from <host>/standin.json
(see scripts/testbed.d/README.md).

Modules: common (paths, output, errors), calls (call log, fault rules), state
(docker-state.json), cli (options, --format), docker, images, prune, containers,
composefile (compose files and options), compose (dispatch, ps/ls/logs/config/exec),
lifecycle (up/down/restart/stop/start), fakeapp, artisan, wrappers (nginx, certbot),
main (dispatch by argv[0]).
"""
