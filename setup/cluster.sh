#!/usr/bin/env bash
# The private PostgreSQL 15 cluster of a checkout: var/pgdata, run by the
# `postgres` user (initdb and postgres refuse root), socket in var/run,
# listening on loopback only.
#
#   setup/cluster.sh statedir   create var/ (see below) and print its path
#   setup/cluster.sh start      initdb if needed, start if stopped, write var/dsn
#   setup/cluster.sh stop       stop the cluster (and the web shim)
#   setup/cluster.sh status
#
# var/ must be readable by `postgres` (the cluster, and the venv PL/Python
# imports from). When the checkout sits below a directory `postgres` cannot
# traverse (a 0700 home, say), var/ becomes a symlink to
# /var/lib/xmmdb/<hash of the checkout path>/ instead.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
AS_PG=(runuser -u postgres --)
[ "$(id -u)" -eq 0 ] || AS_PG=(sudo -u postgres)

statedir() {
  if [ -L "$REPO/var" ] || [ -d "$REPO/var" ]; then
    readlink -f "$REPO/var"; return
  fi
  if "${AS_PG[@]}" test -x "$REPO" 2>/dev/null && "${AS_PG[@]}" test -r "$REPO" 2>/dev/null; then
    mkdir -p "$REPO/var"
  else
    local hash; hash=$(printf %s "$REPO" | sha1sum | cut -c1-12)
    local dir=/var/lib/xmmdb/$hash
    mkdir -p "$dir"; chmod 755 /var/lib/xmmdb "$dir"
    ln -sfn "$dir" "$REPO/var"
    echo "cluster: $REPO is not readable by the postgres user; var/ -> $dir" >&2
  fi
  chmod 755 "$REPO/var/"
  readlink -f "$REPO/var"
}

STATE=$(statedir)
cd "$STATE"  # postgres must be able to stand in the working directory
PGDATA=$STATE/pgdata
SOCK=$STATE/run
LOG=$STATE/log/postgres.log

free_port() {
  local port=${XMMDB_PORT:-5499}
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

start() {
  mkdir -p "$SOCK" "$STATE/log"
  chown postgres: "$SOCK" "$STATE/log"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"; chown postgres: "$PGDATA"
    echo "cluster: initdb $PGDATA"
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    local port; port=$(free_port)
    cat >>"$PGDATA/postgresql.conf" <<EOF
# xmmdb private cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$SOCK'
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_level = minimal
max_wal_senders = 0
synchronous_commit = off
max_parallel_workers_per_gather = 2
logging_collector = off
EOF
  fi
  local port; port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$PGDATA/postgresql.conf" | tail -1)
  if ! "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    # 9>&-: the postmaster must not inherit (and hold for ever) the start lock
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 start >/dev/null 9>&- \
      || { echo "cluster: postgres did not start; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    echo "cluster: started on port $port (socket $SOCK)"
  fi
  echo "host=$SOCK port=$port dbname=xmm user=postgres" >"$STATE/dsn"
}

stop() {
  if [ -s "$PGDATA/PG_VERSION" ] && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    echo "cluster: stopped"
  else
    echo "cluster: not running"
  fi
}

case "${1:-}" in
  statedir) echo "$STATE" ;;
  start) exec 9>"$STATE/.start.lock"; flock 9; start ;;
  stop) stop ;;
  status) "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" status ;;
  *) echo "usage: $0 statedir|start|stop|status" >&2; exit 2 ;;
esac
