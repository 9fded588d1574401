#!/usr/bin/env bash
# Set-up for a fresh clone, safe to repeat: dependencies (when missing or stale),
# the Prisma client, and with --migrate the database at DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
PATH="$PWD/node_modules/.bin:$PATH"
# Quiet unless it fails.
if ! output=$(tsx scripts/generateClient.ts 2>&1); then
  echo "$output" >&2
  exit 1
fi
if [ "${1:-}" = "--migrate" ]; then
  tsx src/cli/main.ts migrate
fi
