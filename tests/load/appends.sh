#!/usr/bin/env bash
# Load test of registry operation appends (POST /v1/agents) with wrk against a release
# `agentid serve` on loopback, on SQLite (default) or PostgreSQL (set AGENTID_DATABASE_URL):
# every request is a fresh agent's signed genesis operation claiming a name of its own, so each
# one verifies a signature, derives the DID, checks the name, writes the agent and appends to
# the hash-chained log. The write rate limit is lifted for the run. The bare server
# (GET /health) is measured in the same run as the ceiling; afterwards the log is checked
# (`agentid log verify --audit`: every entry recomputes to the signed root).
#   tests/load/appends.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin agentid
cargo build --release -p agentid-sdk --example genesis_operations
bin=target/release/agentid
gen=target/release/examples/genesis_operations
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
db_args=()
if [ -n "${AGENTID_DATABASE_URL:-}" ]; then
  db="agentid_appends_$$"
  psql -q "$AGENTID_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  db_args=(--database-url "${AGENTID_DATABASE_URL%/*}/$db")
  trap 'kill $server 2>/dev/null || true; sleep 1; psql -q "$AGENTID_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fi
AGENTID_LOG=warn $bin serve --listen 127.0.0.1:$port --data-dir "$work/data" \
  --write-rate 1000000 --write-burst 1000000 "${db_args[@]}" > "$work/serve.out" &
server=$!
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
export AGENTID_SERVER=http://127.0.0.1:$port

$gen "${APPEND_REQUESTS:-100000}" > "$work/bodies"
cat > "$work/post.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/agents",
    { ["Content-Type"] = "application/json" }, bodies[((i - 1) % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("responses: %d, non-2xx: %d\n", summary.requests, summary.errors.status))
end
LUA
echo "== bare server: GET /health"
wrk --latency -t1 -c"$conns" -d"${secs}s" "$AGENTID_SERVER/health" | grep -E "Requests/sec|50%|99%"
echo "== operation appends: POST /v1/agents (fresh genesis, a name each)"
BODIES="$work/bodies" wrk --latency -t1 -c"$conns" -d"${secs}s" -s "$work/post.lua" \
  "$AGENTID_SERVER/v1/agents" | grep -E "Requests/sec|50%|99%|responses|Socket errors"
echo "== the log afterwards"
$bin log verify --audit | jq -c '{verified, treeSize, audited}'
