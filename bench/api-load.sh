#!/usr/bin/env bash
# Load test of the management API: POST /v1/webhooks and GET /v1/webhooks under
# concurrent load, against a release build on a temp SQLite database.
#
#   bench/api-load.sh [DURATION=20s] [CONNECTIONS=32]
#
# Needs wrk (apt-get install wrk). Prints wrk's latency distribution and requests/s.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20s}
CONNECTIONS=${2:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet
BIN=$PWD/target/release/hookd
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE=1000000000 HOOKD_LOG_LEVEL=warn \
  "$BIN" serve --listen "127.0.0.1:$PORT" >stdout.txt 2>stderr.txt &
PID=$!
for _ in $(seq 100); do grep -q '^API key:' stdout.txt 2>/dev/null && break; sleep 0.1; done
KEY=$(sed -n 's/^API key: //p' stdout.txt)
[ -n "$KEY" ] || { cat stderr.txt >&2; exit 1; }

cat >post.lua <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"url":"https://example.com/hooks/' .. counter .. '","events":["link.created","link.scanned"],"description":"load"}'
  return wrk.format(nil, nil, nil, body)
end
LUA
cat >get.lua <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

echo "== POST /v1/webhooks ($CONNECTIONS connections, $DURATION, $(nproc) cores)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s post.lua "http://127.0.0.1:$PORT/v1/webhooks" | grep -E 'Latency|50%|75%|90%|99%|Requests/sec|Non-2xx'
echo "== GET /v1/webhooks (20 per page of $(sqlite3 hookd.db 'select count(*) from webhooks' 2>/dev/null || echo many) webhooks)"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s get.lua "http://127.0.0.1:$PORT/v1/webhooks" | grep -E 'Latency|50%|75%|90%|99%|Requests/sec|Non-2xx'
