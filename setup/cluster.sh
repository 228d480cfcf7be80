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
# XMMDB_STATE=DIR runs another cluster in DIR (tests of crash recovery use it).
#
# var/ must be readable by `postgres` (the cluster, and the venv PL/Python
# imports from). When the checkout sits below a directory `postgres` cannot
# traverse (a 0700 home, say), var/ becomes a symlink to
# /var/lib/xmmdb/<hash of the checkout path>/ instead.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
MODULE=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/xmmdb.so   # the extension's C module
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

STATE=${XMMDB_STATE:-$(statedir)}   # XMMDB_STATE: another state dir (tests of the cluster itself)
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
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
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
max_parallel_workers_per_gather = 2
logging_collector = off
include_if_exists = 'xmmdb.conf'
EOF
  fi
  managed_settings
  local port; port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$PGDATA/postgresql.conf" | tail -1)
  if ! postmaster_alive; then
    wait_for_dying_server
    local crashed=; [ -f "$PGDATA/postmaster.pid" ] && crashed=yes
    # 9>&-: the postmaster must not inherit (and hold for ever) the start lock
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 600 start >/dev/null 9>&- \
      || { echo "cluster: postgres did not start; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    answers "$port" || { echo "cluster: postgres started but does not answer; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    if [ -n "$crashed" ]; then
      echo "cluster: recovered after a crash (WAL replayed: every acknowledged commit is back); started on port $port"
    else
      echo "cluster: started on port $port (socket $SOCK)"
    fi
  else   # running: apply the managed settings; those that need a restart get one
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" reload >/dev/null
    sleep 0.5
    local pending; pending=$(pending_restart "$port")
    # the C module is preloaded (the watchdog): a newer one on disk is used only after a restart
    if [ -z "$pending" ] && module_newer_than_server "$port"; then pending="the new C module ($MODULE)"; fi
    if [ -n "$pending" ]; then
      echo "cluster: restarting to apply $pending"
      "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOG" -m fast -w -t 600 restart >/dev/null 9>&- \
        || { echo "cluster: postgres did not restart; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    fi
  fi
  echo "host=$SOCK port=$port dbname=xmm user=postgres" >"$STATE/dsn"
}

# Settings of every xmmdb cluster, old ones included (rewritten on each start;
# postgresql.conf includes the file last, so these win):
# - synchronous_commit on: a commit is reported only once it is on disk; off
#   loses acknowledged commits in a crash. Loads are fast by batching instead.
# - wal_level replica and WAL senders: pg_basebackup and point-in-time recovery.
# - the reader watchdog (src/watchdog.c) and its limits: what a reader's
#   session cannot lift, whatever it SETs (docs/security.md).
managed_settings() {
  grep -q "^include_if_exists = 'xmmdb.conf'" "$PGDATA/postgresql.conf" \
    || echo "include_if_exists = 'xmmdb.conf'" >>"$PGDATA/postgresql.conf"
  cat >"$PGDATA/xmmdb.conf" <<EOF
# Written by setup/cluster.sh on every start: edit that script, not this file.
synchronous_commit = on
fsync = on
full_page_writes = on
wal_level = replica
max_wal_senders = 3
shared_preload_libraries = 'xmmdb'
xmmdb.reader_statement_timeout = '60s'
xmmdb.reader_idle_in_transaction_timeout = '5min'
xmmdb.reader_memory_limit = '2GB'
EOF
  chown postgres: "$PGDATA/xmmdb.conf"
  authentication
}

# Who may connect how (rewritten on each start, so clusters made with `trust`
# by older versions are closed too): the superuser only over the Unix socket,
# as the OS user that runs this script (root, the sudo user) or postgres (peer
# authentication through the map below); every other role with its password
# (SCRAM), over the socket or 127.0.0.1. Roles: loader/roles.py, docs/security.md.
authentication() {
  local owner=${SUDO_USER:-$(id -un)}
  cat >"$PGDATA/pg_hba.conf" <<EOF
# Written by setup/cluster.sh on every start: edit that script, not this file.
# TYPE  DATABASE     USER      ADDRESS        METHOD
local   all          postgres                 peer map=xmmdb
local   replication  postgres                 peer map=xmmdb
local   all          all                      scram-sha-256
host    all          postgres  127.0.0.1/32   reject
host    all          postgres  ::1/128        reject
host    all          all       127.0.0.1/32   scram-sha-256
host    all          all       ::1/128        scram-sha-256
EOF
  {
    echo "# Written by setup/cluster.sh on every start: OS users who may log in as the superuser."
    printf 'xmmdb  %s  postgres\n' postgres root $owner | sort -u
  } >"$PGDATA/pg_ident.conf"
  chown postgres: "$PGDATA/pg_hba.conf" "$PGDATA/pg_ident.conf"
  chmod 600 "$PGDATA/pg_hba.conf" "$PGDATA/pg_ident.conf"
}

# After a kill -9 of the postmaster its children live on for a moment, attached
# to its shared memory, and a new postmaster would refuse to start: wait for them.
wait_for_dying_server() {
  local pid; pid=$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
  local i
  for i in $(seq 1 120); do
    # a dead postmaster that is not yet reaped still holds its pid: postgres would refuse to start
    if [ -n "$pid" ] && [ -e "/proc/$pid" ]; then sleep 0.5; continue; fi
    if orphans_hold_memory; then sleep 0.5; continue; fi
    return 0
  done
  if [ -n "$pid" ] && ! alive "$pid" && ! orphans_hold_memory; then
    echo "cluster: the dead postmaster $pid was never reaped; removing its lock file" >&2
    rm -f "$PGDATA/postmaster.pid"
    return 0
  fi
  echo "cluster: the previous server of $PGDATA is still shutting down after 60 s" >&2
  exit 1
}

# A killed postmaster stays a zombie until init reaps it: pg_ctl status (kill -0)
# would call it running.
alive() {
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

postmaster_alive() {
  local pid; pid=$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid"
}

# Processes still attached to the shared memory segment named in postmaster.pid.
orphans_hold_memory() {
  [ -f "$PGDATA/postmaster.pid" ] || return 1
  local id; id=$(sed -n 7p "$PGDATA/postmaster.pid" | awk '{print $2}')
  [ -n "$id" ] || return 1
  local n; n=$(ipcs -m -i "$id" 2>/dev/null | sed -n 's/.*nattch=\([0-9]*\).*/\1/p')
  [ -n "$n" ] && [ "$n" -gt 0 ]
}

answers() {
  local i
  for i in $(seq 1 1200); do
    "${AS_PG[@]}" "$PGBIN/pg_isready" -q -h "$SOCK" -p "$1" && return 0
    sleep 0.5
  done
  return 1
}

module_newer_than_server() {
  local started; started=$("${AS_PG[@]}" "$PGBIN/psql" -h "$SOCK" -p "$1" -d postgres -XAtc \
    "SELECT floor(extract(epoch FROM pg_postmaster_start_time()))" 2>/dev/null) || return 1
  [ -f "$MODULE" ] && [ -n "$started" ] && [ "$(stat -c %Y "$MODULE")" -gt "$started" ]
}

pending_restart() {
  "${AS_PG[@]}" "$PGBIN/psql" -h "$SOCK" -p "$1" -d postgres -XAtc \
    "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart" 2>/dev/null || true
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
