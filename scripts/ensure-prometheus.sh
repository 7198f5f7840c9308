#!/usr/bin/env bash
# The monitoring tests run Debian's promtool (rule checks and unit tests) and a real prometheus (scraping a
# live server). Installs the `prometheus` package with apt-get when either is missing; quick when present.
set -euo pipefail

command -v promtool >/dev/null && command -v prometheus >/dev/null && exit 0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }
echo "[setup] installing prometheus (promtool) with apt-get"
# the tests start their own prometheus: keep the package's service from starting one on :9090
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
  added_policy=1
fi
trap 'if [ "$added_policy" = 1 ]; then as_root rm -f "$policy"; fi' EXIT
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null && command -v prometheus >/dev/null || { echo "prometheus did not install" >&2; exit 1; }
