#!/usr/bin/env bash
# npm run demo: set-up, then the demo against local PostgreSQL (override with DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/outbox_demo}"
bash scripts/setup.sh --migrate >/dev/null
exec node_modules/.bin/tsx examples/demo/main.ts "$@"
