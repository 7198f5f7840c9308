#!/usr/bin/env bash
# The production shape, executed: builds the project's Dockerfile and runs the project's compose.yaml
# (the four roles, Redis, MariaDB) on a Docker daemon of its own, then
#   1. a rush through the router container, with the invariants checked against the compose MariaDB,
#   2. the issuers scaled to 3, one of them SIGKILLed mid-rush (`docker kill`), invariants again,
#   3. SIGTERM to everything (`docker-compose stop`): every container must exit 0,
# and removes what it made. Run by scripts/test.sh (so by CI); alone: `bash scripts/test-containers.sh`.
#
# No image registry is needed: the base images are built here (debootstrap + docker import, Bun from the
# host, Redis and MariaDB from Debian's packages: deploy/no-registry/) and kept between runs in
# CONTAINER_TEST_CACHE (default /var/cache/massive-coupon-containers): the daemon's data-root. The daemon
# runs without bridge networking or iptables (containers use the host's network: deploy/compose.host.yaml),
# as root, with its own exec-root and socket under /run; it is stopped by its PID at the end, and any
# sysctl it changed is put back. Needs root and Debian (installs docker.io, docker-compose, debootstrap).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
T0=$(date +%s)
log() { echo "[containers $(($(date +%s) - T0))s] $*"; }
die() { echo "[containers] FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (a Docker daemon of its own)"
CACHE=${CONTAINER_TEST_CACHE:-/var/cache/massive-coupon-containers}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# PEM bundle of a TLS-intercepting proxy's CA certificates, handed to the build (EXTRA_CA_CERTS)
CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
DOCKER=/usr/bin/docker # Debian's client (20.10), matching the daemon; not a newer one earlier on PATH
COMPOSE=/usr/bin/docker-compose

# --- packages --------------------------------------------------------------------------------------
missing=()
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || missing+=(docker.io)
[ -x "$COMPOSE" ] || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} with apt-get"
  # the packages' own services must not start (this script runs a daemon of its own)
  policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$added_policy" = 1 ] && rm -f "$policy"
fi
command -v bun >/dev/null || die "bun is not installed (run scripts/ensure-services.sh)"

# --- state and cleanup -----------------------------------------------------------------------------
mkdir -p "$CACHE" /run/massive-coupon
exec 9>"$CACHE/.lock"
flock -n 9 || die "another container test holds $CACHE/.lock"
RUN=$(mktemp -d /run/massive-coupon/docker.XXXXXX) # exec-root, socket, pid file: all removed at the end
WORK=$(mktemp -d "${TMPDIR:-/tmp}/massive-coupon-containers.XXXXXX")
export DOCKER_HOST="unix://$RUN/docker.sock"
PROJECT=mcci$$
CGROUP_PARENT=massive-coupon-ci-$$
DAEMON_PID=
COMPOSE_UP=0
OK=0

# volatile counters and values that move by themselves; everything else must be as it was
SYSCTL_VOLATILE='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|quota\.)|kernel\.(random\.|ns_last_pid|pty\.nr|sched_domain)|net\.netfilter\.nf_conntrack_count|fs\.binfmt_misc)'
snapshot() { # $1: file prefix
  sysctl -a 2>/dev/null | grep -Ev "$SYSCTL_VOLATILE" | sort >"$1.sysctl" || true
  ip -o link show | awk -F': ' '{print $2}' | sort >"$1.links"
  { command -v iptables-save >/dev/null && iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//'; } >"$1.iptables" || true
}
snapshot "$WORK/before"
# containerd's shims put their sockets under /run/containerd/s whatever its state dir: ours to remove
# if this run is the one that makes it
RUN_CONTAINERD_EXISTED=0
[ -e /run/containerd ] && RUN_CONTAINERD_EXISTED=1

dc() { "$COMPOSE" -p "$PROJECT" -f compose.yaml -f deploy/compose.host.yaml "$@"; }

cleanup() {
  local rc=$?
  set +e
  if [ "$OK" != 1 ] && [ -n "$DAEMON_PID" ]; then
    log "logs of the containers (last lines each):"
    for c in $("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
      echo "--- $("$DOCKER" inspect -f '{{.Name}} {{.State.Status}} exit={{.State.ExitCode}}' "$c")"
      "$DOCKER" logs --tail 25 "$c" 2>&1 | sed 's/^/    /'
    done
  fi
  if [ "$COMPOSE_UP" = 1 ]; then
    dc down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1
  fi
  if [ -n "$DAEMON_PID" ]; then
    # what this run made goes; the base images stay in the cache for the next run
    "$DOCKER" rmi -f massive-coupon >/dev/null 2>&1
    "$DOCKER" image prune -f >/dev/null 2>&1
    "$DOCKER" builder prune -f >/dev/null 2>&1
    kill -TERM "$DAEMON_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$DAEMON_PID" 2>/dev/null; then log "dockerd did not stop on SIGTERM: SIGKILL"; kill -KILL "$DAEMON_PID"; fi
    wait "$DAEMON_PID" 2>/dev/null
  fi
  # processes the daemon left (its containerd, shims): ours by their exec-root in the command line
  # ("exe[c]" so that this grep does not find itself)
  for pid in $(grep -l -s "$RUN/exe[c]" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    log "leftover process $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-80)): SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  done
  # mounts under our directories, deepest first
  for m in $(awk -v run="$RUN" -v cache="$CACHE" -v work="$WORK" 'index($5, run) == 1 || index($5, cache) == 1 || index($5, work) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null && log "unmounted $m"
  done
  if [ "$RUN_CONTAINERD_EXISTED" = 0 ]; then rmdir /run/containerd/s /run/containerd 2>/dev/null; fi
  # the containers' cgroups (cgroupfs driver, one parent of ours in every hierarchy)
  for d in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  # host settings the daemon changed: put back (and say so); interfaces or firewall rules: report
  snapshot "$WORK/after"
  while IFS= read -r line; do
    key=${line%% = *}
    sysctl -q -w "$key=${line#* = }" >/dev/null 2>&1 && log "restored sysctl $line"
  done < <(comm -23 "$WORK/before.sysctl" "$WORK/after.sysctl")
  local leftovers=
  diff -q "$WORK/before.links" "$WORK/after.links" >/dev/null || leftovers+=" network interfaces: $(comm -13 "$WORK/before.links" "$WORK/after.links" | tr '\n' ' ')"
  diff -q "$WORK/before.iptables" "$WORK/after.iptables" >/dev/null || leftovers+=" iptables rules changed"
  rm -rf "$RUN" "$WORK"
  rmdir /run/massive-coupon 2>/dev/null
  if [ -n "$leftovers" ]; then echo "[containers] FAILED: the host was changed:$leftovers" >&2; [ "$rc" = 0 ] && rc=1; fi
  if [ "$rc" = 0 ]; then log "passed in $(($(date +%s) - T0)) s; cleaned up (containers, volumes, project image, daemon, its exec-root)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "[containers] interrupted: cleaning up" >&2; exit 130' INT TERM

# --- the daemon ------------------------------------------------------------------------------------
log "starting dockerd (data-root $CACHE/docker, exec-root $RUN)"
/usr/sbin/dockerd \
  --data-root "$CACHE/docker" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" -H "unix://$RUN/docker.sock" \
  --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
  --storage-driver=vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CGROUP_PARENT" \
  >"$WORK/dockerd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 150); do "$DOCKER" version >/dev/null 2>&1 && break; kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
"$DOCKER" version >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log" >&2; die "dockerd did not come up"; }

# --- base images (cached: rebuilt only when their recipe changes) ----------------------------------
hash_of() { cat "$@" | sha256sum | cut -c1-12; }
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
BASE=massive-coupon-ci/debian:bookworm
if ! have "$BASE"; then
  log "building $BASE with debootstrap (once per machine)"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  tar -C "$WORK/rootfs" -c . | "$DOCKER" import - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi
BUN_BIN=$(readlink -f "$(command -v bun)")
BUN_IMAGE=massive-coupon-ci/bun:$(bun --version)-$(hash_of deploy/no-registry/bun.Dockerfile "$BUN_BIN")
if ! have "$BUN_IMAGE"; then
  log "building $BUN_IMAGE (the host's bun $(bun --version))"
  mkdir -p "$WORK/bunctx" && cp "$BUN_BIN" "$WORK/bunctx/bun"
  "$DOCKER" build -q --network host --build-arg BASE_IMAGE="$BASE" -f deploy/no-registry/bun.Dockerfile -t "$BUN_IMAGE" "$WORK/bunctx" >/dev/null
fi
REDIS_IMAGE=massive-coupon-ci/redis:$(hash_of deploy/no-registry/redis.Dockerfile)
MARIADB_IMAGE=massive-coupon-ci/mariadb:$(hash_of deploy/no-registry/mariadb*)
for pair in "redis:$REDIS_IMAGE" "mariadb:$MARIADB_IMAGE"; do
  name=${pair%%:*} image=${pair#*:}
  if ! have "$image"; then
    log "building $image from Debian's packages"
    "$DOCKER" build -q --network host --build-arg BASE_IMAGE="$BASE" -f "deploy/no-registry/$name.Dockerfile" -t "$image" deploy/no-registry >/dev/null
  fi
done
# images of older recipes: not needed any more
"$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep '^massive-coupon-ci/' | grep -vxF -e "$BASE" -e "$BUN_IMAGE" -e "$REDIS_IMAGE" -e "$MARIADB_IMAGE" |
  xargs -r "$DOCKER" rmi >/dev/null 2>&1 || true

# --- the project's image ---------------------------------------------------------------------------
log "building the project's Dockerfile (BUN_IMAGE=$BUN_IMAGE)"
ca_certs=$(cat "$CA_DIR"/*.crt 2>/dev/null || true)
"$DOCKER" build --network host --build-arg BUN_IMAGE="$BUN_IMAGE" --build-arg BUN_SLIM_IMAGE="$BUN_IMAGE" \
  --build-arg EXTRA_CA_CERTS="$ca_certs" -t massive-coupon . >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; die "docker build of the project's Dockerfile failed"; }

# --- compose up ------------------------------------------------------------------------------------
free_port() { bun -e 'const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); console.log(s.port); s.stop(true)'; }
export ROUTER_PORT=$(free_port) QUEUE_PORT=$(free_port) COUPON_PORT=$(free_port) ISSUER_PORT=$(free_port)
export REDIS_PORT=$(free_port) MYSQL_PORT=$(free_port) REDIS_IMAGE MARIADB_IMAGE
export ADMIN_TOKEN="ci-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AUTH_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export INTERNAL_TOKEN="internal-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log "docker-compose up (router :$ROUTER_PORT, queue :$QUEUE_PORT, coupon :$COUPON_PORT, issuer :$ISSUER_PORT, redis :$REDIS_PORT, mariadb :$MYSQL_PORT)"
COMPOSE_UP=1
dc up -d --no-build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "docker-compose up failed"; }
wait_healthy() { # every container of the project running and healthy (where it has a health check)
  local deadline=$(($(date +%s) + $1)) bad
  while :; do
    bad=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs "$DOCKER" inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}healthy{{end}}' | grep -v ' running healthy$' || true)
    [ -z "$bad" ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || die "not healthy after $1 s: $(echo "$bad" | tr '\n' ';')"
    sleep 1
  done
}
wait_healthy 180
log "all containers healthy"

rush() { # $1: container to kill mid-rush (optional)
  ROUTER_URL="http://127.0.0.1:$ROUTER_PORT" MYSQL_URL="mysql://coupon:coupon@127.0.0.1:$MYSQL_PORT/coupon" \
    KILL_CONTAINER="${1:-}" DOCKER="$DOCKER" bun scripts/container-rush.ts
}

# --- 1. a rush through the router ------------------------------------------------------------------
log "rush 1: 2,000 users for 200 coupons through the router container"
rush

# --- 2. three issuers, one killed mid-rush ---------------------------------------------------------
log "scaling issuers to 3"
dc up -d --no-build --no-recreate --scale issuer=3 >"$WORK/scale.log" 2>&1 || { cat "$WORK/scale.log" >&2; die "--scale issuer=3 failed"; }
wait_healthy 120
issuers=$(dc ps -q issuer)
[ "$(echo "$issuers" | wc -l)" = 3 ] || die "expected 3 issuer containers, got: $issuers"
victim=$(echo "$issuers" | head -1)
log "rush 2: 5,000 users for 1,000 coupons, issuer ${victim:0:12} killed mid-rush"
USERS=5000 STOCK=1000 rush "$victim"
[ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$victim")" = 137 ] || [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$victim")" = true ] ||
  die "the killed issuer did not die by SIGKILL"

# --- 3. SIGTERM: every container exits 0 -----------------------------------------------------------
log "docker-compose stop (SIGTERM, 30 s grace)"
# the killed issuer, if the restart policy brought it back, is stopped like the others
dc stop >"$WORK/stop.log" 2>&1 || { cat "$WORK/stop.log" >&2; die "docker-compose stop failed"; }
codes=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs "$DOCKER" inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.Name}} exit={{.State.ExitCode}} restarts={{.RestartCount}}')
echo "$codes" | sed 's/^/    /'
for role in router queue coupon issuer redis mysql; do
  echo "$codes" | grep -q "^$role " || die "no $role container"
done
# the victim is excused only while it stayed dead (exit 137, never restarted)
bad=$(echo "$codes" | grep -v ' exit=0 ' | grep -v "^issuer /${PROJECT}_issuer_[0-9]* exit=137 restarts=0$" || true)
[ -z "$bad" ] || die "containers that did not exit 0 on SIGTERM: $(echo "$bad" | tr '\n' ';')"
[ "$(echo "$codes" | grep -c ' exit=137 ')" -le 1 ] || die "more than the one killed issuer exited 137"
OK=1
