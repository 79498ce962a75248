#!/usr/bin/env bash
# Makes sure a Chromium is here for the browser tests (tests/test_graphiql.py).
#
# Uses $CHROMIUM or `chromium` on the PATH if there is one. Otherwise, as root on
# Debian or Ubuntu, installs Debian's chromium package with apt-get. Anywhere
# else it says what to do and exits 0: the rest of the suite still runs, and the
# browser tests fail saying Chromium is missing.
set -euo pipefail

if [[ -n "${CHROMIUM:-}" && -x "${CHROMIUM}" ]] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium for the browser tests (apt-get install chromium)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  chromium --version
  exit 0
fi
echo "warning: no Chromium found; install it (Debian: apt-get install chromium) or set" \
  "CHROMIUM to a Chromium binary, or the browser tests will fail" >&2
