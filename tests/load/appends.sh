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
. tests/load/serve.sh genesis_operations --write-rate 1000000 --write-burst 1000000

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
