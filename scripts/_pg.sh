# Sourced by scripts/test and bench/pg_quota.sh: start a throwaway PostgreSQL for the run.
# Does nothing when TEST_DATABASE_URL is already set or no initdb/pg_ctl is found (the
# PostgreSQL tests then skip with a reason, or fail under CI=true). Otherwise: a cluster in a
# temporary directory, tuned for speed, on a free local port; TEST_DATABASE_URL points at it and
# an EXIT trap stops it and removes the directory whatever the caller's exit.

_pg_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  local dir
  # the newest installed major version wins
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# Run a command as an unprivileged user when we are root: initdb and pg_ctl refuse root.
_pg_as_owner() {
  if [ "$(id -u)" != 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u nobody -- "$@"
  else
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
  fi
}

_pg_free_port() {
  "${PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_pg_stop() {
  if [ -n "${_PG_DIR:-}" ]; then
    _pg_as_owner "$_PG_BIN/pg_ctl" stop -D "$_PG_DIR/data" -m immediate -s >/dev/null 2>&1 || true
    rm -rf "$_PG_DIR"
    _PG_DIR=""
  fi
}

_pg_start() {
  [ -z "${TEST_DATABASE_URL:-}" ] || return 0
  _PG_BIN="$(_pg_bindir)" || return 0
  # under /tmp, not $TMPDIR: the unprivileged owner must be able to reach it
  _PG_DIR="$(mktemp -d /tmp/seedream-pg.XXXXXX)"
  trap _pg_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$_PG_DIR"
  fi
  if ! _pg_as_owner "$_PG_BIN/initdb" -D "$_PG_DIR/data" -U postgres --auth=trust \
      --encoding=UTF8 --no-locale --no-sync >"$_PG_DIR/initdb.log" 2>&1; then
    echo "error: initdb failed (log below)" >&2
    cat "$_PG_DIR/initdb.log" >&2
    return 1
  fi
  cat >>"$_PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$_PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 64MB
EOF
  # the port may be taken between picking and binding (other runs on this machine): retry
  local attempt port
  for attempt in 1 2 3 4 5; do
    port="$(_pg_free_port)"
    if _pg_as_owner "$_PG_BIN/pg_ctl" start -D "$_PG_DIR/data" -w -t 60 -s \
        -o "-p $port" -l "$_PG_DIR/server.log" >/dev/null 2>&1; then
      export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
      # tells the tests this server is ours (so its settings are the ones above)
      export TEST_DATABASE_THROWAWAY=1
      return 0
    fi
  done
  echo "error: could not start the throwaway PostgreSQL (log below)" >&2
  cat "$_PG_DIR/server.log" >&2
  return 1
}

_pg_start
