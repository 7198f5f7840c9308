#!/bin/sh
# First start on an empty /var/lib/mysql: create the system tables, MARIADB_DATABASE and
# MARIADB_USER@'%' with MARIADB_PASSWORD (all privileges on that database), and give root a random
# password (root keeps unix-socket login for the health check). Then run mariadbd as PID 1, so
# SIGTERM shuts it down cleanly.
set -eu
case "${1:-}" in -*) set -- mariadbd "$@" ;; esac
[ "${1:-}" = mariadbd ] || exec "$@"
shift
if [ ! -d /var/lib/mysql/mysql ]; then
  : "${MARIADB_DATABASE:?set MARIADB_DATABASE}" "${MARIADB_USER:?set MARIADB_USER}" "${MARIADB_PASSWORD:?set MARIADB_PASSWORD}"
  echo "[entrypoint] initialising /var/lib/mysql"
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
  sock=/run/mysqld/init.sock
  mariadbd --user=mysql --skip-networking --socket="$sock" &
  pid=$!
  i=0
  until mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 120 ] || { echo "[entrypoint] mariadbd did not start" >&2; exit 1; }
    sleep 0.5
  done
  root_password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mariadb --socket="$sock" -uroot <<SQL
DELETE FROM mysql.global_priv WHERE User = '';
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;
CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('${root_password}');
FLUSH PRIVILEGES;
SQL
  kill "$pid"
  wait "$pid" || true
  echo "[entrypoint] ready (root password generated, not shown)"
fi
exec mariadbd --user=mysql "$@"
