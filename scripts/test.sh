#!/usr/bin/env bash
# The README's test command: sets everything up, then runs every test against real Redis and MariaDB.
# Tests use Redis db 9 with their own key prefixes and the MySQL schema coupon_test (dropped here first).
# Then, for the whole suite (no test files named), the container test: the Dockerfile and compose.yaml run
# for real (scripts/test-containers.sh; CONTAINER_TEST=off skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-prometheus.sh
mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS coupon_test" 2>/dev/null || true
# the fault tests keep a few servers (each with its MySQL pool) up per file: Debian's default 151 connections
# ran out once in CI ("Too many connections")
mariadb -h127.0.0.1 -uroot -e "SET GLOBAL max_connections = GREATEST(@@max_connections, 500)" 2>/dev/null || true
bunx tsc --noEmit
# the race and fault tests start real servers and processes; no test asserts a duration
bun test --timeout 120000 "$@"
if [ $# -eq 0 ] && [ "${CONTAINER_TEST:-on}" != off ]; then
  bash scripts/test-containers.sh
fi
