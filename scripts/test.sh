#!/usr/bin/env bash
# The README's test command: sets everything up, then runs every test against real Redis and MariaDB.
# Tests use Redis db 9 with their own key prefixes and the MySQL schema coupon_test (dropped here first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-prometheus.sh
mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS coupon_test" 2>/dev/null || true
bunx tsc --noEmit
# the race and fault tests start real servers and processes; no test asserts a duration
bun test --timeout 120000 "$@"
