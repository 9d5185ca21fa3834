#!/usr/bin/env bash
# Local development/test stack for livemigrate:
#   * a PRIVATE MariaDB instance (own datadir, port, socket; never touches a
#     system mysqld on 3306), used as the migration source;
#   * the Cloud Spanner emulator (in-memory), used as the migration target.
#
# Usage: scripts/stack.sh <command>
#   up            start MariaDB + emulator (idempotent), provision, write env file
#   down          stop every process this stack started (by recorded pid); keeps data
#   status        show what runs
#   env           (re)write $STACK_DIR/env and print it (never contains the password)
#   up-mysql      start/provision only MariaDB
#   down-mysql    stop only MariaDB
#   up-spanner    start/provision only an emulator on SPANNER_GRPC_PORT/SPANNER_HTTP_PORT
#                 (own pid file, so extra emulators can coexist, e.g.
#                  SPANNER_GRPC_PORT=19110 SPANNER_HTTP_PORT=19120 \
#                  SPANNER_EMULATOR_FLAGS=--enable_fault_injection scripts/stack.sh up-spanner)
#   down-spanner  stop only the emulator on SPANNER_GRPC_PORT
#   running       exit 0 if any stack process runs, 1 otherwise (quiet)
#   deps          install missing system packages (root only), else print how
#   clean         down, then remove STACK_DIR
#
# Configuration (environment; the Makefile passes its variables through):
#   STACK_DIR=.stack  MYSQL_PORT=33306  SPANNER_GRPC_PORT=19010
#   SPANNER_HTTP_PORT=19020  SPANNER_EMULATOR_DIR=<gcloud sdk>/bin/cloud_spanner_emulator
#   SPANNER_EMULATOR_FLAGS=  SPANNER_PROJECT=livemigrate-local  SPANNER_INSTANCE=local
#   SPANNER_DATABASE=demo  MYSQL_DATABASE=demo  MYSQL_APP_USER=livemigrate
#   STACK_START_TIMEOUT=90 (seconds to wait for a service to answer)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
mkdir -p "$STACK_DIR"
STACK_DIR="$(cd "$STACK_DIR" && pwd)"

MYSQL_PORT="${MYSQL_PORT:-33306}"
MYSQL_DATABASE="${MYSQL_DATABASE:-demo}"
MYSQL_APP_USER="${MYSQL_APP_USER:-livemigrate}"
MARIADBD="${MARIADBD:-/usr/sbin/mariadbd}"

SPANNER_GRPC_PORT="${SPANNER_GRPC_PORT:-19010}"
SPANNER_HTTP_PORT="${SPANNER_HTTP_PORT:-19020}"
SPANNER_EMULATOR_FLAGS="${SPANNER_EMULATOR_FLAGS:-}"
SPANNER_EMULATOR_DIR="${SPANNER_EMULATOR_DIR:-}"
SPANNER_PROJECT="${SPANNER_PROJECT:-livemigrate-local}"
SPANNER_INSTANCE="${SPANNER_INSTANCE:-local}"
SPANNER_DATABASE="${SPANNER_DATABASE:-demo}"

STACK_START_TIMEOUT="${STACK_START_TIMEOUT:-90}"

MYSQL_DATADIR="$STACK_DIR/mysql"
MYSQL_CNF="$STACK_DIR/my.cnf"
MYSQL_SOCKET="$STACK_DIR/mysql.sock"
MYSQL_PIDFILE="$STACK_DIR/mysql.pid"
MYSQL_LOG="$STACK_DIR/mysql.log"
MYSQL_PASSWORD_FILE="$STACK_DIR/mysql.password"
ENV_FILE="$STACK_DIR/env"

spanner_pidfile() { echo "$STACK_DIR/spanner-$1.pid"; }            # gateway_main
spanner_emu_pidfile() { echo "$STACK_DIR/spanner-$1.emulator.pid"; } # its emulator_main child
spanner_logfile() { echo "$STACK_DIR/spanner-$1.log"; }

APT_INSTALL_CMD="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client"

log() { echo "stack: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# Account used for administrative work over the private socket. mariadb-install-db
# creates root@localhost (unix_socket auth) plus an account for the OS user it ran as.
if is_root; then
  MYSQL_ADMIN_USER="${MYSQL_ADMIN_USER:-root}"
else
  MYSQL_ADMIN_USER="${MYSQL_ADMIN_USER:-$(id -un)}"
fi

# ---------------------------------------------------------------- process helpers

# pid_alive PID: process exists and is not a zombie (PID 1 in some containers
# never reaps, so a dead child can linger as <defunct>).
pid_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

# pid_is PID COMM CMDLINE_SUBSTRING: alive, named COMM, and its command line
# contains the substring (so we never kill somebody else's process that
# happened to reuse a recorded pid).
pid_is() {
  local pid="$1" comm="$2" needle="$3" c cmd
  pid_alive "$pid" || return 1
  c="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  [ "$c" = "$comm" ] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) " || return 1
  [[ "$cmd" == *"$needle"* ]]
}

read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }

children_of() {
  local ppid="$1" p st
  for p in /proc/[0-9]*; do
    st="$(cat "$p/stat" 2>/dev/null)" || continue
    # field 4 (ppid), after the ")" that closes comm
    st="${st##*) }"
    set -- $st
    [ "${2:-}" = "$ppid" ] && echo "${p#/proc/}"
  done
  return 0
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_gone PID SECONDS
wait_gone() {
  local pid="$1" n=$(($2 * 10))
  while pid_alive "$pid" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  ! pid_alive "$pid"
}

# stop_pid PID COMM NEEDLE LABEL [TIMEOUT]
stop_pid() {
  local pid="$1" comm="$2" needle="$3" label="$4" timeout="${5:-60}"
  if ! pid_is "$pid" "$comm" "$needle"; then
    return 0
  fi
  log "stopping $label (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$timeout"; then
    log "$label (pid $pid) did not exit after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "$label (pid $pid) refuses to die"
  fi
}

# Serialise concurrent invocations on the same STACK_DIR (e.g. parallel make).
take_lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STACK_DIR/.lock"
    flock -w 300 9 || die "could not lock $STACK_DIR/.lock"
  fi
}

# ---------------------------------------------------------------- dependencies

install_mariadb() {
  if ! is_root; then
    echo "stack: MariaDB server ($MARIADBD) is not installed. Install it with:" >&2
    echo "    sudo sh -c '$APT_INSTALL_CMD'" >&2
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || die "$MARIADBD missing and apt-get not available; install MariaDB 10.6+ manually"
  log "installing mariadb-server via apt (one-time)"
  # Keep the Debian postinst from starting a system mysqld (it would be
  # irrelevant to us anyway: we use our own port, socket and datadir).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  local rc=0
  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client) || rc=$?
  [ "$created_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install mariadb-server failed (rc=$rc)"
}

ensure_mariadb_installed() {
  if [ ! -x "$MARIADBD" ] || ! command -v mariadb >/dev/null 2>&1 || ! command -v mariadb-install-db >/dev/null 2>&1; then
    install_mariadb
  fi
  [ -x "$MARIADBD" ] || die "$MARIADBD still missing after install"
}

ensure_curl() {
  command -v curl >/dev/null 2>&1 && return 0
  if is_root && command -v apt-get >/dev/null 2>&1; then
    log "installing curl via apt"
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y curl ca-certificates
  else
    die "curl is required; install it (apt-get install -y curl)"
  fi
}

resolve_emulator_dir() {
  if [ -n "$SPANNER_EMULATOR_DIR" ]; then
    return 0
  fi
  local root=""
  if command -v gcloud >/dev/null 2>&1; then
    root="$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null || true)"
  fi
  if [ -n "$root" ] && [ -x "$root/bin/cloud_spanner_emulator/gateway_main" ]; then
    SPANNER_EMULATOR_DIR="$root/bin/cloud_spanner_emulator"
  else
    SPANNER_EMULATOR_DIR="/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator"
  fi
}

ensure_emulator_installed() {
  resolve_emulator_dir
  if [ ! -x "$SPANNER_EMULATOR_DIR/gateway_main" ] || [ ! -x "$SPANNER_EMULATOR_DIR/emulator_main" ]; then
    cat >&2 <<EOF
stack: ERROR: Cloud Spanner emulator binaries not found in $SPANNER_EMULATOR_DIR
       (need gateway_main and emulator_main). Install them with either:
         apt-get install google-cloud-cli-spanner-emulator   # from Google's Cloud SDK apt repo
                                                             # (https://packages.cloud.google.com/apt cloud-sdk main)
         gcloud components install cloud-spanner-emulator    # for a non-apt gcloud SDK
       or point SPANNER_EMULATOR_DIR at a directory holding both binaries.
EOF
    exit 1
  fi
}

# ---------------------------------------------------------------- MariaDB

mysql_admin() {
  # Admin connection through the private socket; ignores /etc/mysql config.
  mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCKET" -u"$MYSQL_ADMIN_USER" \
    --default-character-set=utf8mb4 "$@"
}

mysql_running_pid() {
  local pid
  pid="$(read_pid "$MYSQL_PIDFILE")"
  if [ -n "$pid" ] && pid_is "$pid" mariadbd "--defaults-file=$MYSQL_CNF"; then
    echo "$pid"
    return 0
  fi
  return 1
}

write_mysql_cnf() {
  local user_line=""
  is_root && user_line="user=root"
  cat >"$MYSQL_CNF" <<EOF
# Generated by scripts/stack.sh -- private MariaDB for livemigrate (do not edit).
[mariadbd]
$user_line
datadir=$MYSQL_DATADIR
socket=$MYSQL_SOCKET
pid-file=$MYSQL_PIDFILE
log-error=$MYSQL_LOG
bind-address=127.0.0.1
port=$MYSQL_PORT
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
max_connections=300
innodb_buffer_pool_size=512M
innodb_flush_log_at_trx_commit=2
innodb_log_file_size=256M
max_allowed_packet=256M
default_time_zone=+00:00
lower_case_table_names=0
EOF
}

start_mysql() {
  local pid
  if pid="$(mysql_running_pid)"; then
    log "mariadb already running (pid $pid, port $MYSQL_PORT)"
    return 0
  fi
  ensure_mariadb_installed
  if [ "${#MYSQL_SOCKET}" -gt 100 ]; then
    die "socket path $MYSQL_SOCKET is too long for a unix socket (${#MYSQL_SOCKET} > 100 chars); set STACK_DIR to a shorter path"
  fi
  if port_open "$MYSQL_PORT"; then
    die "port 127.0.0.1:$MYSQL_PORT is already in use by a process this stack did not start; set MYSQL_PORT to a free port"
  fi
  write_mysql_cnf
  if [ ! -d "$MYSQL_DATADIR/mysql" ]; then
    log "initialising MariaDB datadir $MYSQL_DATADIR"
    rm -rf "$MYSQL_DATADIR"
    mkdir -p "$MYSQL_DATADIR"
    local install_args=(--defaults-file="$MYSQL_CNF" --datadir="$MYSQL_DATADIR"
      --auth-root-authentication-method=socket --skip-test-db)
    is_root && install_args+=(--user=root)
    if ! mariadb-install-db "${install_args[@]}" >"$STACK_DIR/mysql-install.log" 2>&1; then
      tail -n 30 "$STACK_DIR/mysql-install.log" >&2 || true
      rm -rf "$MYSQL_DATADIR"
      die "mariadb-install-db failed (see $STACK_DIR/mysql-install.log)"
    fi
  fi
  rm -f "$MYSQL_PIDFILE"
  log "starting mariadb on 127.0.0.1:$MYSQL_PORT (log: $MYSQL_LOG)"
  # setsid: detach from make's process group/terminal so Ctrl-C in a later
  # command does not take the server down. The wrapper records the pid itself
  # (mariadbd rewrites the same pid into pid-file once it is up).
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$MYSQL_PIDFILE" \
    "$MARIADBD" --defaults-file="$MYSQL_CNF" </dev/null >>"$STACK_DIR/mysql.stdout" 2>&1 9>&- &
  local n=$((STACK_START_TIMEOUT * 5))
  until mysql_admin -e 'SELECT 1' >/dev/null 2>&1; do
    pid="$(read_pid "$MYSQL_PIDFILE")"
    if [ -n "$pid" ] && ! pid_alive "$pid" || [ "$n" -le 0 ]; then
      tail -n 40 "$MYSQL_LOG" >&2 2>/dev/null || true
      die "mariadb did not come up (see $MYSQL_LOG)"
    fi
    sleep 0.2
    n=$((n - 1))
  done
  pid="$(mysql_running_pid)" || die "mariadb answers but its pid file $MYSQL_PIDFILE does not match a mariadbd we started"
  log "mariadb up (pid $pid)"
}

ensure_password() {
  if [ ! -s "$MYSQL_PASSWORD_FILE" ]; then
    local pw
    pw="$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
    [ "${#pw}" -ge 20 ] || die "could not generate a password"
    (umask 077 && printf '%s' "$pw" >"$MYSQL_PASSWORD_FILE")
  fi
  chmod 600 "$MYSQL_PASSWORD_FILE"
}

provision_mysql() {
  ensure_password
  local pw
  pw="$(cat "$MYSQL_PASSWORD_FILE")"
  [[ "$pw" =~ ^[A-Za-z0-9]+$ ]] || die "$MYSQL_PASSWORD_FILE must hold an alphanumeric password"
  # Fed on stdin so the password never shows up in ps or in logs.
  mysql_admin <<EOF
CREATE USER IF NOT EXISTS '$MYSQL_APP_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$MYSQL_APP_USER'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$MYSQL_APP_USER'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$MYSQL_APP_USER'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_APP_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_APP_USER'@'localhost';
CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
FLUSH PRIVILEGES;
EOF
}

stop_mysql() {
  local pid
  pid="$(read_pid "$MYSQL_PIDFILE")"
  if [ -n "$pid" ] && pid_is "$pid" mariadbd "--defaults-file=$MYSQL_CNF"; then
    stop_pid "$pid" mariadbd "--defaults-file=$MYSQL_CNF" mariadb 120
  elif [ -n "$pid" ]; then
    log "mariadb pid file $MYSQL_PIDFILE is stale (pid $pid is not our mariadbd); removing it"
  fi
  rm -f "$MYSQL_PIDFILE"
}

# ---------------------------------------------------------------- Spanner emulator

gateway_needle() { echo " --grpc_port $1 --http_port "; }
emulator_needle() { echo "--host_port 127.0.0.1:$1 "; }

gateway_http_port() {
  tr '\0' ' ' <"/proc/$1/cmdline" | sed -nE 's/.*--http_port ([0-9]+).*/\1/p'
}

spanner_running_pid() {
  local port="$1" pid
  pid="$(read_pid "$(spanner_pidfile "$port")")"
  if [ -n "$pid" ] && pid_is "$pid" gateway_main "$(gateway_needle "$port")"; then
    echo "$pid"
    return 0
  fi
  return 1
}

spanner_http() {
  # spanner_http METHOD PATH [BODY] -> prints "<http_code>\n<body>"
  local method="$1" path="$2" body="${3:-}" out
  local args=(-sS -m 10 -X "$method" -H 'Content-Type: application/json' -o - -w '\n%{http_code}')
  [ -n "$body" ] && args+=(--data "$body")
  out="$(curl "${args[@]}" "http://127.0.0.1:$SPANNER_HTTP_PORT/v1/$path" 2>&1)" || {
    echo "000"
    echo "$out"
    return 0
  }
  echo "${out##*$'\n'}"
  echo "${out%$'\n'*}"
}

start_spanner() {
  local port="$SPANNER_GRPC_PORT" pid
  local pidfile emupidfile logfile
  pidfile="$(spanner_pidfile "$port")"
  emupidfile="$(spanner_emu_pidfile "$port")"
  logfile="$(spanner_logfile "$port")"
  if pid="$(spanner_running_pid "$port")"; then
    # Talk to the REST port it really uses (the caller may only have set the grpc port).
    SPANNER_HTTP_PORT="$(gateway_http_port "$pid")"
    log "spanner emulator already running (gateway pid $pid, grpc $port, http $SPANNER_HTTP_PORT)"
    return 0
  fi
  ensure_curl
  ensure_emulator_installed
  # A gateway may have died leaving its emulator_main child behind.
  stop_spanner_emulator_child "$port"
  local p
  for p in "$port" "$SPANNER_HTTP_PORT"; do
    if port_open "$p"; then
      die "port 127.0.0.1:$p is already in use by a process this stack did not start; choose other SPANNER_GRPC_PORT/SPANNER_HTTP_PORT"
    fi
  done
  log "starting spanner emulator grpc 127.0.0.1:$port http 127.0.0.1:$SPANNER_HTTP_PORT ${SPANNER_EMULATOR_FLAGS:+(flags: $SPANNER_EMULATOR_FLAGS) }(log: $logfile)"
  rm -f "$pidfile" "$emupidfile"
  # shellcheck disable=SC2086 # SPANNER_EMULATOR_FLAGS is intentionally word-split
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" \
    "$SPANNER_EMULATOR_DIR/gateway_main" --hostname 127.0.0.1 \
    --grpc_port "$port" --http_port "$SPANNER_HTTP_PORT" \
    --grpc_binary "$SPANNER_EMULATOR_DIR/emulator_main" $SPANNER_EMULATOR_FLAGS \
    </dev/null >>"$logfile" 2>&1 9>&- &
  local n=$((STACK_START_TIMEOUT * 5)) code
  while :; do
    pid="$(read_pid "$pidfile")"
    if port_open "$port"; then
      code="$(spanner_http GET "projects/$SPANNER_PROJECT/instances")"
      code="${code%%$'\n'*}"
      [ "$code" = 200 ] && break
    fi
    if { [ -n "$pid" ] && ! pid_alive "$pid"; } || [ "$n" -le 0 ]; then
      grep -v -e 'already registered' -e 'name conflict' -e 'previously from' -e 'currently from' \
        -e 'namespace-conflict' -e '^$' "$logfile" | tail -n 30 >&2 || true
      die "spanner emulator did not come up (see $logfile)"
    fi
    sleep 0.2
    n=$((n - 1))
  done
  pid="$(spanner_running_pid "$port")" || die "emulator answers but $pidfile does not match a gateway_main we started"
  local child
  for child in $(children_of "$pid"); do
    if pid_is "$child" emulator_main "$(emulator_needle "$port")"; then
      echo "$child" >"$emupidfile"
    fi
  done
  log "spanner emulator up (gateway pid $pid, emulator pid $(read_pid "$emupidfile"))"
}

stop_spanner_emulator_child() {
  local port="$1" pid
  pid="$(read_pid "$(spanner_emu_pidfile "$port")")"
  if [ -n "$pid" ]; then
    stop_pid "$pid" emulator_main "$(emulator_needle "$port")" "emulator_main[$port]" 30
  fi
  rm -f "$(spanner_emu_pidfile "$port")"
}

stop_spanner() {
  local port="$1" pid child children=""
  pid="$(read_pid "$(spanner_pidfile "$port")")"
  if [ -n "$pid" ] && pid_is "$pid" gateway_main "$(gateway_needle "$port")"; then
    children="$(children_of "$pid")"
    stop_pid "$pid" gateway_main "$(gateway_needle "$port")" "gateway_main[$port]" 30
    # gateway_main does not take its emulator_main child down on SIGTERM.
    for child in $children; do
      stop_pid "$child" emulator_main "$(emulator_needle "$port")" "emulator_main[$port]" 30
    done
  elif [ -n "$pid" ]; then
    log "spanner pid file for port $port is stale (pid $pid); removing it"
  fi
  stop_spanner_emulator_child "$port"
  rm -f "$(spanner_pidfile "$port")"
}

# All grpc ports for which we hold a pid file.
spanner_ports() {
  local f p
  for f in "$STACK_DIR"/spanner-*.pid; do
    [ -e "$f" ] || continue
    p="${f##*/spanner-}"
    p="${p%.pid}"
    p="${p%.emulator}"
    [[ "$p" =~ ^[0-9]+$ ]] && echo "$p"
  done | sort -u
}

provision_spanner() {
  local out code
  # The emulator is in-memory: after any restart the instance is gone, so
  # always (re)create it; 409 ALREADY_EXISTS counts as success.
  out="$(spanner_http POST "projects/$SPANNER_PROJECT/instances" \
    "{\"instanceId\":\"$SPANNER_INSTANCE\",\"instance\":{\"config\":\"emulator-config\",\"displayName\":\"$SPANNER_INSTANCE\",\"nodeCount\":1}}")"
  code="${out%%$'\n'*}"
  case "$code" in
    200) log "created spanner instance projects/$SPANNER_PROJECT/instances/$SPANNER_INSTANCE" ;;
    409) ;;
    *) die "creating spanner instance failed (HTTP $code): ${out#*$'\n'}" ;;
  esac
  out="$(spanner_http POST "projects/$SPANNER_PROJECT/instances/$SPANNER_INSTANCE/databases" \
    "{\"createStatement\":\"CREATE DATABASE \`$SPANNER_DATABASE\`\"}")"
  code="${out%%$'\n'*}"
  case "$code" in
    200) log "created spanner database $SPANNER_DATABASE" ;;
    409) ;;
    *) die "creating spanner database failed (HTTP $code): ${out#*$'\n'}" ;;
  esac
  local n=50
  while :; do
    out="$(spanner_http GET "projects/$SPANNER_PROJECT/instances/$SPANNER_INSTANCE/databases/$SPANNER_DATABASE")"
    [[ "$out" == *'"READY"'* ]] && break
    [ "$n" -le 0 ] && die "spanner database $SPANNER_DATABASE never became READY: ${out#*$'\n'}"
    sleep 0.2
    n=$((n - 1))
  done
}

# ---------------------------------------------------------------- env / status

write_env() {
  local tmp="$ENV_FILE.tmp.$$"
  cat >"$tmp" <<EOF
# Generated by scripts/stack.sh -- source me: . $ENV_FILE
export LM_STACK_DIR='$STACK_DIR'
export LM_MYSQL_ADDR='127.0.0.1:$MYSQL_PORT'
export LM_MYSQL_USER='$MYSQL_APP_USER'
export LM_MYSQL_PASSWORD_FILE='$MYSQL_PASSWORD_FILE'
export LM_MYSQL_SOCKET='$MYSQL_SOCKET'
export LM_MYSQL_DATABASE='$MYSQL_DATABASE'
export LM_MYSQL_ADMIN_USER='$MYSQL_ADMIN_USER'
export SPANNER_EMULATOR_HOST='127.0.0.1:$SPANNER_GRPC_PORT'
export LM_SPANNER_EMULATOR_REST='http://127.0.0.1:$SPANNER_HTTP_PORT'
export LM_SPANNER_PROJECT='$SPANNER_PROJECT'
export LM_SPANNER_INSTANCE='$SPANNER_INSTANCE'
export LM_SPANNER_DATABASE='projects/$SPANNER_PROJECT/instances/$SPANNER_INSTANCE/databases/$SPANNER_DATABASE'
EOF
  mv -f "$tmp" "$ENV_FILE"
}

cmd_status() {
  local pid any=1 port child
  echo "stack dir: $STACK_DIR"
  if pid="$(mysql_running_pid)"; then
    local ok=down
    mysql_admin -e 'SELECT 1' >/dev/null 2>&1 && ok=answering
    local mport
    mport="$(sed -n 's/^port=//p' "$MYSQL_CNF" 2>/dev/null)"
    echo "mariadb:   running pid $pid, 127.0.0.1:${mport:-$MYSQL_PORT}, socket $MYSQL_SOCKET ($ok)"
    any=0
  else
    echo "mariadb:   not running"
  fi
  local ports
  ports="$(spanner_ports)"
  [ -n "$ports" ] || echo "spanner:   not running"
  for port in $ports; do
    if pid="$(spanner_running_pid "$port")"; then
      child="$(read_pid "$(spanner_emu_pidfile "$port")")"
      local args extra
      args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
      extra="${args##*/emulator_main }"
      echo "spanner:   running gateway pid $pid (emulator_main pid ${child:-?}), grpc 127.0.0.1:$port, http 127.0.0.1:$(gateway_http_port "$pid")${extra:+ flags: $extra}"
      any=0
    else
      echo "spanner:   grpc port $port: not running (stale pid file)"
    fi
  done
  [ -f "$ENV_FILE" ] && echo "env file:  $ENV_FILE"
  return $any
}

cmd_running() {
  mysql_running_pid >/dev/null && return 0
  local port
  for port in $(spanner_ports); do
    spanner_running_pid "$port" >/dev/null && return 0
  done
  return 1
}

cmd_down() {
  local port cnf
  stop_mysql
  # Private servers of outage tests (internal/testenv) live in subdirectories.
  for cnf in "$STACK_DIR"/*/my.cnf; do
    [ -e "$cnf" ] || continue
    STACK_DIR="$(dirname "$cnf")" MYSQL_PORT="$(sed -n 's/^port=//p' "$cnf")" "$0" down-mysql || true
  done
  for port in $(spanner_ports); do
    stop_spanner "$port"
  done
  log "stack down (data kept in $STACK_DIR)"
}

# ---------------------------------------------------------------- main

main() {
  local cmd="${1:-}"
  case "$cmd" in
    up)
      take_lock
      local t0=$SECONDS
      start_mysql
      provision_mysql
      start_spanner
      provision_spanner
      write_env
      log "stack up in $((SECONDS - t0))s; source $ENV_FILE"
      ;;
    up-mysql)
      take_lock
      start_mysql
      provision_mysql
      ;;
    up-spanner)
      take_lock
      start_spanner
      provision_spanner
      echo "SPANNER_EMULATOR_HOST=127.0.0.1:$SPANNER_GRPC_PORT"
      ;;
    down)
      take_lock
      cmd_down
      ;;
    down-mysql)
      take_lock
      stop_mysql
      ;;
    down-spanner)
      take_lock
      stop_spanner "$SPANNER_GRPC_PORT"
      ;;
    status) cmd_status ;;
    running) cmd_running ;;
    env)
      write_env
      cat "$ENV_FILE"
      ;;
    deps)
      ensure_mariadb_installed
      ensure_curl
      ensure_emulator_installed
      ;;
    clean)
      take_lock
      cmd_down
      exec 9>&-
      case "$STACK_DIR" in
        / | "$HOME" | "$REPO_ROOT") die "refusing to remove $STACK_DIR" ;;
      esac
      rm -rf "$STACK_DIR"
      log "removed $STACK_DIR"
      ;;
    *)
      sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
