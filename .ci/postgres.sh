# Starts a throwaway PostgreSQL for the test suite and exports HOOKD_TEST_DATABASE_URL.
#
#   source .ci/postgres.sh && start_postgres && cargo test --workspace
#
# Uses Debian's postgresql package (installed when missing), runs initdb and pg_ctl as
# the postgres user (initdb refuses root) on a temp directory and a free port, and stops
# the server when the calling shell exits. Each test server then creates a database of
# its own on it.

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local bin dir port
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  dir=$(mktemp -d /tmp/hookd-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  # shellcheck disable=SC2064
  trap "as_postgres '$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null 2>&1 || true" EXIT
  export HOOKD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}
