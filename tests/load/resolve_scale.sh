#!/usr/bin/env bash
# Resolution at scale, with wrk against release `agentid serve` processes on loopback (SQLite):
# one registry per size (default 10,000 and 1,000,000 agents), each filled with real agents
# (signed genesis operations through POST /v1/agents), all running at once. Every request names
# an agent drawn at random from all of that registry's agents, so at a million most answers come
# from the database, not the registry's cache. Each registry is warmed with the same load first
# (WARM_SECS, default 30: the memory map of the database file fills, as on a server that has
# been up a while), then the sizes are measured in turn, ROUNDS times (default 3), so that a
# noisy moment of the machine falls on both, each round with wrk and then with oha (installed
# with cargo if missing), every connection kept busy. The bare server (GET /health) and one
# agent asked for again and again (the cache) are measured in the same run.
# Then each size at fixed rates (FIXED_RATE, a list, default "5000 10000" req/s: some quarter
# and half of what the registry answers at saturation) with oha, latencies counted from when
# each request was due.
# RESOLUTION_CACHE_SECS sets the registries' resolution cache (default 5; 0 reads the database
# for every answer). RESOLVE_KEEP=dir keeps the filled registries there and reuses them on the
# next run (the million takes some 12 minutes to fill).
#   tests/load/resolve_scale.sh [seconds] [connections] [sizes...]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
shift $(( $# < 2 ? $# : 2 ))
sizes=("${@:-10000 1000000}")
sizes=(${sizes[*]})
cache=${RESOLUTION_CACHE_SECS:-5}
warm=${WARM_SECS:-30}
rounds=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is required (apt-get install jq)" >&2; exit 1; }
cargo build --release --bin agentid
cargo build --release -p agentid-sdk --example genesis_operations
bin=$PWD/target/release/agentid
gen=$PWD/target/release/examples/genesis_operations
work=$(mktemp -d)
store=${RESOLVE_KEEP:-$work}
mkdir -p "$store"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/load.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
-- wrk makes (and drops) one request while setting a thread up: START is one before the first
-- body to send, so that one is a GET /health.
local i = tonumber(os.getenv("START") or "0")
request = function()
  i = i + 1
  if i < 1 or i > #bodies then return wrk.format("GET", "/health") end
  return wrk.format("POST", "/v1/agents", { ["Content-Type"] = "application/json" }, bodies[i])
end
LUA
# Every request is built before the run (some seconds for a million agents), so that the loop
# only picks one: a script that makes each request's path as it goes costs wrk three times the
# CPU per request at a million distinct paths as at ten thousand (16.6 against 5.5 us, measured
# with time(1)), CPU taken from the server on the same two cores, and its p99 at a million is
# then the load generator's. One wrk thread: its script runs before wrk's clock starts; with
# two, the first would be sending while the second still builds.
cat > "$work/resolve.lua" <<'LUA'
local requests = {}
for line in io.lines(os.getenv("DIDS")) do
  requests[#requests + 1] = wrk.format("GET", "/1.0/identifiers/" .. line)
end
local n = #requests
math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
request = function()
  return requests[math.random(n)]
end
LUA

# Starts the registry of `size` agents in $store/$size; sets url[$size].
declare -A url
start() {
  local size=$1 port=$((20000 + RANDOM % 20000))
  mkdir -p "$store/$size"
  AGENTID_LOG=warn $bin serve --listen 127.0.0.1:$port --data-dir "$store/$size/data" \
    --write-rate 1000000 --write-burst 1000000 --resolution-cache-secs "$cache" \
    > "$store/$size/serve.out" &
  pids+=($!)
  # Building the log's Merkle tree from a million stored entries takes some seconds.
  for _ in $(seq 1 1200); do grep -q listening "$store/$size/serve.out" 2>/dev/null && break; sleep 0.1; done
  url[$size]=http://127.0.0.1:$port
}

# Fills the registry of `size` up to `size` agents (nothing to do if it holds them).
fill() {
  local size=$1 u=${url[$1]} count
  count=$(curl -s "$u/v1/log/checkpoint" | jq .treeSize)
  [ "$count" -ge "$size" ] && { echo "== $size: $count agents already"; return; }
  [ "$count" -eq 0 ] || { echo "$store/$size holds $count agents, fewer than $size: remove it" >&2; exit 1; }
  echo "== filling the registry of $size agents"
  $gen "$size" "$store/$size/dids" > "$work/bodies"
  # One wrk thread sends each body once, in order; rerun from where the log stands until all
  # are in. A request that failed on the way (a timeout on a busy machine) leaves a gap that
  # resuming cannot fill: a pass that adds nothing is followed by one sending every body again
  # (those registered already are refused as duplicates).
  local from=$count before
  for _ in 1 2 3 4 5 6; do
    [ "$count" -ge "$size" ] && break
    START=$((from - 1)) BODIES="$work/bodies" wrk -t1 -c16 -d"$(( (size - from) / 1500 + 3 ))s" \
      -s "$work/load.lua" "$u/health" | grep -E "Requests/sec" || true
    before=$count
    count=$(curl -s "$u/v1/log/checkpoint" | jq .treeSize)
    echo "log size: $count"
    if [ "$count" -gt "$before" ]; then from=$count; else from=0; fi
  done
  [ "$count" -ge "$size" ] || { echo "only $count of $size registered" >&2; exit 1; }
}

random() {
  DIDS="$store/$1/dids" wrk --latency -t1 -c"$conns" -d"$2s" -s "$work/resolve.lua" "${url[$1]}/"
}

# What is reported of an oha run.
summary='"p50 \(.latencyPercentiles.p50 * 1000 | . * 100 | round / 100) ms, p99 \(.latencyPercentiles.p99 * 1000 | . * 100 | round / 100) ms, \(.summary.requestsPerSec | round) req/s, success rate \(.summary.successRate)"'

# The same load with oha: as many requests as the connections can carry, each to a random agent.
saturate() {
  oha --no-tui --output-format json -z "${secs}s" -c "$conns" --urls-from-file "$work/urls.$1" \
    | jq -r "$summary"
}

for size in "${sizes[@]}"; do start "$size"; fill "$size"; done
command -v oha >/dev/null || cargo install --locked oha
for size in "${sizes[@]}"; do
  sed "s|^|${url[$size]}/1.0/identifiers/|" "$store/$size/dids" > "$work/urls.$size"
done
for size in "${sizes[@]}"; do
  echo "== warming the registry of $size agents (${warm} s, not reported)"
  random "$size" "$warm" > /dev/null
done
echo "== bare server: GET /health (wrk, one thread, as the resolutions)"
wrk --latency -t1 -c"$conns" -d"${secs}s" "${url[${sizes[0]}]}/health" | grep -E "Requests/sec|50%|99%"
# Saturating load: every connection kept busy, by wrk and by oha in turn. Latencies are then
# mostly the wait in the queue the connections make.
for round in $(seq 1 "$rounds"); do
  for size in "${sizes[@]}"; do
    echo "== round $round: resolution of a random agent of $size, wrk (cache ${cache} s)"
    random "$size" "$secs" | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
    echo "== round $round: resolution of a random agent of $size, oha (cache ${cache} s)"
    saturate "$size"
  done
done
# Latency at fixed rates, below what either size can answer: requests are sent at each rate of
# FIXED_RATE per second (default "5000 10000"; 0 skips this) with oha, whose latencies count
# from when each request was due (--latency-correction), so a stall is not hidden by the
# requests it held back.
rates=${FIXED_RATE:-5000 10000}
if [ "$rates" != 0 ]; then
  for rate in $rates; do for round in $(seq 1 "$rounds"); do
    for size in "${sizes[@]}"; do
      echo "== round $round: a random agent of $size at $rate req/s (cache ${cache} s)"
      oha --no-tui --output-format json -z "${secs}s" -c "$conns" -q "$rate" --latency-correction \
        --urls-from-file "$work/urls.$size" | jq -r "$summary"
    done
  done; done
fi
for size in "${sizes[@]}"; do
  one=$(head -1 "$store/$size/dids")
  echo "== resolution of one agent at $size (cache ${cache} s)"
  wrk --latency -t2 -c"$conns" -d"${secs}s" "${url[$size]}/1.0/identifiers/$one" \
    | grep -E "Requests/sec|50%|99%|Non-2xx"
done
