#!/usr/bin/env bash
# The README's demo command: sets everything up, then runs the rush demo (extra args go to scripts/demo.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bun run scripts/demo.ts "$@"
