#!/usr/bin/env bash
# Load test of spend authorizations (POST /v1/spend/authorizations) with wrk against a release
# `agentid serve` on loopback, on SQLite (default) or PostgreSQL (set AGENTID_DATABASE_URL):
# every request is a fresh spend request (its own nonce) that the service verifies and holds
# against a budget. Three runs: one budget (every request on one delegation's row), one budget
# that runs out early in the run (the refusals are budget_exceeded), and many budgets. After each run the ledger is checked for zero overspend:
# no delegation's held + captured passes its total. The bare server (GET /health) is measured
# in the same run as the ceiling. SPEND_RUNS="many" (or "one", "out") runs only those.
#   tests/load/spend.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
# The write rate limit is lifted for the set-up (200 delegations in a row).
. tests/load/serve.sh spend_requests --write-rate 1000000 --write-burst 1000000

$bin key generate --unencrypted --out "$work/agent.key" >/dev/null
agent=$($bin agent register --key "$work/agent.key" | jq -r .did)
export AGENTID_TOKEN=$($bin wallet create | jq -r .token)
merchant=$($bin key generate --unencrypted --out "$work/m.key" | jq -r .did)

cat > "$work/post.lua" <<'LUA'
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/spend/authorizations",
    { ["Content-Type"] = "application/json" }, bodies[((i - 1) % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("responses: %d, non-2xx: %d\n", summary.requests, summary.errors.status))
end
LUA

# Each body is used once if the run sends fewer requests than there are bodies.
count=${SPEND_REQUESTS:-60000}
run() { # name, delegations, total per delegation
  local name=$1 n=$2 total=$3
  : > "$work/creds"; : > "$work/ids"
  for _ in $(seq 1 "$n"); do
    $bin delegate --agent "$agent" --merchant "$merchant" --currency USD --per-transaction 100 \
      --total "$total" --valid-for 1d > "$work/d.json"
    jq -r .credential "$work/d.json" >> "$work/creds"; jq -r .id "$work/d.json" >> "$work/ids"
  done
  $gen "$work/agent.key" "$agent" "$work/creds" "$merchant" 100 "$count" > "$work/bodies"
  echo "== spend authorizations: $name ($n delegation(s), \$$((total / 100)) each, \$1 a request)"
  BODIES="$work/bodies" wrk --latency -t1 -c"$conns" -d"${secs}s" -s "$work/post.lua" \
    "$AGENTID_SERVER/v1/spend/authorizations" | grep -E "Requests/sec|50%|99%|responses|Socket errors"
  local held=0 over=0
  while read -r id; do
    b=$($bin wallet budget --credential-id "$id")
    h=$(jq '.held + .captured' <<<"$b"); t=$(jq .total <<<"$b")
    held=$((held + h)); [ "$h" -gt "$t" ] && over=$((over + 1))
  done < "$work/ids"
  echo "ledger: $((held / 100)) holds of \$1 granted; delegations over their total: $over"
  [ "$over" -eq 0 ]
}
echo "== bare server: GET /health"
wrk --latency -t1 -c"$conns" -d"${secs}s" "$AGENTID_SERVER/health" | grep -E "Requests/sec|50%|99%"
# SPEND_RUNS picks runs by their first word (one, out, many); all three by default.
runs=${SPEND_RUNS:-one out many}
[[ " $runs " == *" one "* ]] && run "one budget" 1 10000000
[[ " $runs " == *" out "* ]] && run "one budget that runs out" 1 500000
[[ " $runs " == *" many "* ]] && run "many budgets" 200 5000000
true
