#!/usr/bin/env bash
# Makes sure redis-server is here for the scale-out tests (tests/test_scale_out.py);
# each test starts its own on a free loopback port with a throwaway config.
#
# Uses redis-server on the PATH if there is one. Otherwise, as root on Debian or
# Ubuntu, installs Debian's redis-server package with apt-get (its service is
# not started). Anywhere else it says what to do and exits 0: the rest of the
# suite still runs, and the scale-out tests fail saying redis-server is missing.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server for the scale-out tests (apt-get install redis-server)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  redis-server --version
  exit 0
fi
echo "warning: no redis-server found; install it (Debian: apt-get install redis-server)," \
  "or the scale-out tests will fail" >&2
