#!/bin/sh
# The two checks of the official image's healthcheck.sh that compose.yaml uses:
# --connect (the server answers) and --innodb_initialized (InnoDB is up).
set -eu
for check in "$@"; do
  case "$check" in
    --connect) mariadb -uroot -N -e "SELECT 1" >/dev/null ;;
    --innodb_initialized)
      [ "$(mariadb -uroot -N -e "SELECT 1 FROM information_schema.ENGINES WHERE engine='InnoDB' AND support IN ('YES','DEFAULT')")" = 1 ] ;;
    *) echo "healthcheck.sh: unknown check $check" >&2; exit 2 ;;
  esac
done
