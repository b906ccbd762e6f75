#!/usr/bin/env bash
# Installs dependencies, builds the release preset and starts the gateway on examples/api-config.json
# at http://127.0.0.1:8787 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
cat <<'TRY'

workgate is starting on http://127.0.0.1:8787 with examples/api-config.json. Try:
  curl -i http://127.0.0.1:8787/health
  curl -i http://127.0.0.1:8787/users/42
  curl -i -X OPTIONS -H 'Origin: https://app.example.com' http://127.0.0.1:8787/health
  curl -i http://127.0.0.1:8787/private                      # 401: no token
  curl -i -H "Authorization: Bearer $(python3 scripts/mint-jwt.py)" http://127.0.0.1:8787/private
  curl -i 'http://127.0.0.1:8787/proxy/users/7?client=cli'   # http_proxy to the gateway itself
  curl -i -H 'x-api-key: example-api-key' http://127.0.0.1:8787/orders/42   # workers: hook + binding + post
  curl -s http://127.0.0.1:9901/readyz                       # admin listener (docs/operations.md)
  curl -s http://127.0.0.1:9901/metrics | grep workgate_http_requests_total

TRY
export EXAMPLE_JWT_SECRET="${EXAMPLE_JWT_SECRET:-example-secret-change-me-0123456789}"
export EXAMPLE_API_KEY="${EXAMPLE_API_KEY:-example-api-key}"
exec build/release/workgate serve --config examples/api-config.json --listen 127.0.0.1:8787 --access-log
