#!/usr/bin/env bash
# Resolution at scale, with wrk against a release `agentid serve` on loopback, on SQLite
# (default) or PostgreSQL (set AGENTID_DATABASE_URL): the registry is filled with real agents
# (signed genesis operations through POST /v1/agents) up to each size in turn (default 10,000
# then 1,000,000), and at each size resolution is measured with every request naming an agent
# drawn at random from all of them (most answers then come from the database, not the
# registry's 5-second cache), and again for one agent (the cache). The bare server (GET /health)
# is measured in the same run as the ceiling.
# RESOLUTION_CACHE_SECS sets the registry's resolution cache (default 5; 0 reads the database for
# every answer, so both sizes measure the same path).
#   tests/load/resolve_scale.sh [seconds] [connections] [sizes...]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
shift $(( $# < 2 ? $# : 2 ))
sizes=("${@:-10000 1000000}")
sizes=(${sizes[*]})
cache=${RESOLUTION_CACHE_SECS:-5}
. tests/load/serve.sh genesis_operations --write-rate 1000000 --write-burst 1000000 \
  --resolution-cache-secs "$cache"

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
cat > "$work/resolve.lua" <<'LUA'
local dids = {}
for line in io.lines(os.getenv("DIDS")) do dids[#dids + 1] = line end
math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
request = function()
  return wrk.format("GET", "/1.0/identifiers/" .. dids[math.random(#dids)])
end
LUA
registered=0
for size in "${sizes[@]}"; do
  add=$((size - registered))
  echo "== filling the registry to $size agents (+$add)"
  $gen "$add" "$work/new_dids" > "$work/bodies"
  cat "$work/new_dids" >> "$work/dids"
  # One wrk thread sends each body once, in order; rerun from where the log stands until all
  # are in.
  count=$registered
  for _ in 1 2 3 4 5 6; do
    [ "$count" -ge "$size" ] && break
    left=$((size - count))
    START=$((count - registered - 1)) BODIES="$work/bodies" wrk -t1 -c16 -d"$(( left / 1500 + 3 ))s" \
      -s "$work/load.lua" "$AGENTID_SERVER/health" | grep -E "Requests/sec" || true
    count=$(curl -s "$AGENTID_SERVER/v1/log/checkpoint" | jq .treeSize)
    echo "log size: $count"
  done
  [ "$count" -ge "$size" ] || { echo "only $count of $size registered" >&2; exit 1; }
  registered=$size
  echo "== bare server: GET /health"
  wrk --latency -t2 -c"$conns" -d"${secs}s" "$AGENTID_SERVER/health" | grep -E "Requests/sec|50%|99%"
  echo "== resolution of a random agent of $size (cache ${cache} s): GET /1.0/identifiers/{did}"
  DIDS="$work/dids" wrk --latency -t2 -c"$conns" -d"${secs}s" -s "$work/resolve.lua" \
    "$AGENTID_SERVER/" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
  one=$(head -1 "$work/dids")
  echo "== resolution of one agent at $size (cache ${cache} s)"
  wrk --latency -t2 -c"$conns" -d"${secs}s" "$AGENTID_SERVER/1.0/identifiers/$one" \
    | grep -E "Requests/sec|50%|99%|Non-2xx"
done
