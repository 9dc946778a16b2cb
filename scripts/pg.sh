# shellcheck shell=bash
# Private PostgreSQL clusters for development and tests; sourced by scripts/dev.
#
#   pg_init  DATA_DIR           initdb once (a no-op when DATA_DIR is a cluster)
#   pg_start DATA_DIR SOCK_DIR LOG_FILE
#                               start it on a unix socket only (no TCP port)
#   pg_stop  DATA_DIR           fast shutdown, quiet (a no-op when not running)
#   pg_createdb SOCK_DIR NAME   create database NAME unless it exists
#   pg_conninfo SOCK_DIR NAME   the libpq conninfo for it
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres`
# OS user (made by Debian's postgresql package), which then owns DATA_DIR and
# SOCK_DIR and must be able to traverse every directory above them.
# All paths must be absolute.

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

pg__log() { echo "dev: $*" >&2; }

# Runs a PostgreSQL server-side binary: as `postgres` when we are root.
pg__as_owner() {
  if [[ $EUID -eq 0 ]]; then
    # cd /: the caller's working directory may be closed to postgres.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg__check_user() {
  [[ $EUID -eq 0 ]] || return 0
  if ! id -u postgres >/dev/null 2>&1; then
    pg__log "running as root needs the 'postgres' OS user (package postgresql)"
    return 1
  fi
}

# Makes DIR and its ancestors traversable by postgres (root only). Grants only
# search (x) permission, through an ACL where the file system takes one.
pg_ensure_traverse() {
  local dir=$1 d path=""
  [[ $EUID -eq 0 ]] || return 0
  pg__check_user || return 1
  runuser -u postgres -- test -x "$dir" 2>/dev/null && return 0
  local -a parts
  IFS=/ read -r -a parts <<<"${dir#/}"
  for d in / "${parts[@]}"; do
    [[ -z $d ]] && continue
    if [[ $d == / ]]; then path=/; else path=${path%/}/$d; fi
    [[ -d $path ]] || break
    if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
      if command -v setfacl >/dev/null 2>&1 && setfacl -m u:postgres:x "$path" 2>/dev/null; then
        pg__log "granted user postgres traverse access (setfacl -m u:postgres:x) to $path"
      else
        chmod o+x "$path"
        pg__log "granted others traverse access (chmod o+x; setfacl failed or missing) to $path"
      fi
    fi
  done
}

# Makes DIR (mode 700), owned by the server's user.
pg__own_dir() {
  local dir=$1
  mkdir -p "$dir"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$dir"
  fi
  chmod 700 "$dir"
}

pg_init() {
  local data=$1
  pg__check_user || return 1
  if [[ -f $data/PG_VERSION ]]; then
    return 0
  fi
  if [[ -d $data && -n $(ls -A "$data") ]]; then
    pg__log "$data exists but holds no PostgreSQL cluster; remove it and retry"
    return 1
  fi
  pg_ensure_traverse "$(dirname "$data")" || return 1
  pg__own_dir "$data"
  pg__log "initdb $data"
  local out
  if ! out=$(pg__as_owner "$PG_BINDIR/initdb" -D "$data" -U postgres \
      --auth-local=trust --auth-host=reject -E UTF8 --locale=C.UTF-8 2>&1); then
    printf '%s\n' "$out" >&2
    pg__log "initdb failed"
    return 1
  fi
}

pg_running() {
  local data=$1
  [[ -f $data/PG_VERSION ]] || return 1
  pg__as_owner "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1
}

pg_start() {
  local data=$1 sock=$2 log=$3
  pg__check_user || return 1
  # A unix socket path holds at most 107 bytes.
  if (( ${#sock} + 20 > 107 )); then
    pg__log "socket directory path too long for a unix socket: $sock"
    return 1
  fi
  pg_ensure_traverse "$(dirname "$sock")" || return 1
  pg__own_dir "$sock"
  touch "$log"
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$log"
  fi
  # No TCP listener at all: no clash with the system cluster or anything else.
  local out
  if ! out=$(pg__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -l "$log" -w -s \
      -o "-c listen_addresses='' -k '$sock' -c fsync=on" start 2>&1); then
    [[ -z $out ]] || printf '%s\n' "$out" >&2
    pg__log "PostgreSQL did not start; last lines of $log:"
    tail -n 20 "$log" >&2 || true
    return 1
  fi
}

pg_stop() {
  local data=$1
  pg_running "$data" || return 0
  pg__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -s stop >/dev/null 2>&1 || {
    pg__log "could not stop PostgreSQL in $data"
    return 1
  }
}

pg_conninfo() {
  echo "host=$1 dbname=$2 user=postgres"
}

pg_createdb() {
  local sock=$1 name=$2 exists
  exists=$("$PG_BINDIR/psql" "$(pg_conninfo "$sock" postgres)" -XtAq \
    -c "select 1 from pg_database where datname = '$name'") || return 1
  if [[ $exists != 1 ]]; then
    pg__log "createdb $name"
    "$PG_BINDIR/createdb" -h "$sock" -U postgres "$name"
  fi
}
