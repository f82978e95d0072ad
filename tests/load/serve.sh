# Sourced by the load scripts: builds the release `agentid` and the request generator named by
# $1 (an agentid-sdk example), and starts `agentid serve` on a random loopback port with its
# data in a scratch directory, on SQLite or, when AGENTID_DATABASE_URL is set, on a PostgreSQL
# database of its own (the wallet's keys in a shared one are sealed under another master key),
# with the remaining arguments added to `serve`. Sets bin, gen, work and AGENTID_SERVER; stops
# the server and removes what it made on exit. AGENTID_PROFILE prefixes the server's command
# (e.g. a profiler).
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin agentid
cargo build --release -p agentid-sdk --example "$1"
bin=target/release/agentid
gen=target/release/examples/$1
shift
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
db_args=()
if [ -n "${AGENTID_DATABASE_URL:-}" ]; then
  db="agentid_load_$$"
  psql -q "$AGENTID_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
  db_args=(--database-url "${AGENTID_DATABASE_URL%/*}/$db")
  trap 'kill $server 2>/dev/null || true; sleep 1; psql -q "$AGENTID_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fi
AGENTID_LOG=warn ${AGENTID_PROFILE:-} $bin serve --listen 127.0.0.1:$port --data-dir "$work/data" \
  "${db_args[@]}" "$@" > "$work/serve.out" &
server=$!
for _ in $(seq 1 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
export AGENTID_SERVER=http://127.0.0.1:$port
