#!/usr/bin/env bash
# Sourced by the benchmarks that use the test hosts: starts them when they are not up, and
# stops them again when the benchmark exits (only if it started them).
# shellcheck shell=bash
started_testbed=
status=$(scripts/testbed status 2>/dev/null || true)
if [[ $status != *sshd=up* ]]; then
  scripts/testbed up 11 >/dev/null
  started_testbed=1
fi
stop_testbed() {
  if [[ -n $started_testbed ]]; then scripts/testbed down >/dev/null 2>&1 || true; fi
}
trap stop_testbed EXIT
