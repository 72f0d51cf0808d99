#!/usr/bin/env bash
# Serve an artifact, ask it for one prediction, stop it (a step of `make demo`).
#   examples/serve_demo.sh VENV_BIN ARTIFACT DATA [PORT]
set -euo pipefail
bin=$1 artifact=$2 data=$3 port=${4:-8787}

"$bin/mdreg" serve "$artifact" --port "$port" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" || true' EXIT

# Wait for the socket; the model loads after it is bound, and predict retries the 503s
# the server answers meanwhile.
for _ in $(seq 200); do
  if "$bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { echo "mdreg serve exited" >&2; exit 1; }
  sleep 0.1
done
"$bin/mdreg" predict "http://127.0.0.1:$port" --data "$data" --retries 8
