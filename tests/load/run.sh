#!/usr/bin/env bash
# Load test with a real HTTP load generator (wrk) against a release `agentid serve` on loopback.
# Reports requests/s and latency percentiles for: the bare server (GET /health, the ceiling on
# this machine), DID resolution, and checkout verification (POST /v1/verify).
#   tests/load/run.sh [seconds] [connections]
# AGENTID_BIN runs that binary instead of building this checkout's (to compare two builds in one
# sitting); RESOLUTION_CACHE_SECS (default 5) sets the service's resolution cache, 0 to derive
# every answer from the log.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
if [ -n "${AGENTID_BIN:-}" ]; then
  bin=$AGENTID_BIN
else
  cargo build --release --bin agentid
  bin=target/release/agentid
fi
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
AGENTID_LOG=warn $bin serve --listen 127.0.0.1:$port --data-dir "$work/data" \
  --resolution-cache-secs "${RESOLUTION_CACHE_SECS:-5}" > "$work/serve.out" &
server=$!
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
export AGENTID_SERVER=http://127.0.0.1:$port AGENTID_KEY_PASSPHRASE="load test passphrase"

$bin key generate --out "$work/agent.key" >/dev/null
agent=$($bin agent register --key "$work/agent.key" --name shopper.load | jq -r .did)
export AGENTID_TOKEN=$($bin wallet create | jq -r .token)
merchant=$($bin key generate --out "$work/m.key" | jq -r .did)
$bin delegate --agent "$agent" --merchant "$merchant" --currency USD --per-transaction 5000 \
  --total 20000 --valid-for 1d --out "$work/cred.jwt" >/dev/null
vp=$($bin present --key "$work/agent.key" --agent "$agent" --credential "$work/cred.jwt" \
  --merchant "$merchant" --nonce load-1 --amount 4200 --currency USD --order-hash \
  AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --lifetime 300 | jq -r .presentation)
body=$(jq -nc --arg p "$vp" --arg m "$merchant" '{presentation:$p, merchant:$m, nonce:"load-1"}')
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA
# The first verification is accepted; every later one does the full verification and is then
# rejected as a replay of the same nonce (the check that runs last).
curl -s -X POST -H 'content-type: application/json' -d "$body" "$AGENTID_SERVER/v1/verify" | jq -c '{decision}'

run() {
  echo "== $1"
  shift
  wrk --latency -t2 -c"$conns" -d"${secs}s" "$@" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
}
run "bare server: GET /health" "$AGENTID_SERVER/health"
run "resolution: GET /1.0/identifiers/{did}" "$AGENTID_SERVER/1.0/identifiers/$agent"
run "verification: POST /v1/verify" -s "$work/post.lua" "$AGENTID_SERVER/v1/verify"
