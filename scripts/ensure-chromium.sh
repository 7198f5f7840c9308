#!/usr/bin/env bash
# The browser tests drive Debian's chromium through playwright-core (which downloads no browser of
# its own), with a Korean font (fonts-nanum) for the pages in Korean and their screenshots. Installs
# them with apt-get when missing; quick when they are already there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
has_korean_font() { fc-list 2>/dev/null | grep -qi nanum; }
[ -x "$CHROMIUM" ] && has_korean_font && exit 0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }
echo "[setup] installing chromium and a Korean font with apt-get"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-nanum >/dev/null
[ -x "$CHROMIUM" ] || { echo "chromium did not install at $CHROMIUM" >&2; exit 1; }
