#!/usr/bin/env bash
# Makes sure Bun, the dependencies, Redis and MariaDB are there; starts (or installs, as root on
# Debian) whatever is missing. Idempotent: quick when everything is already up.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }
apt_install() {
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v bun >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  log "installing bun with npm"
  npm i -g bun >/dev/null 2>&1 || as_root npm i -g bun >/dev/null
fi
bun install --frozen-lockfile >/dev/null

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --maxmemory-policy noeviction --dir /tmp --logfile /tmp/redis-6379.log
  for _ in $(seq 50); do redis_up && break; sleep 0.2; done
  redis_up || { echo "redis did not start" >&2; exit 1; }
fi

mysql_up() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }
if ! mysql_up; then
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server
  log "starting mariadb"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  [ -d /var/lib/mysql/mysql ] || as_root mariadb-install-db --user=mysql >/dev/null 2>&1 || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 100); do mysql_up && break; sleep 0.3; done
  mysql_up || { echo "mariadb did not start" >&2; exit 1; }
fi
# a fresh Debian MariaDB authenticates root by unix socket only; the app connects over TCP with an empty password
if ! mariadb -h127.0.0.1 -uroot -e "SELECT 1" >/dev/null 2>&1 && command -v mariadb >/dev/null; then
  log "allowing root over TCP with an empty password (local development database)"
  as_root mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" || true
fi
log "bun $(bun --version), redis and mariadb reachable"
