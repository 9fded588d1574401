#!/usr/bin/env bash
# Tools the tests run beside PostgreSQL and RabbitMQ, installed when missing:
# PgBouncer (Debian's package), which tests start on ports of their own to check the
# package through a connection pooler. Safe to repeat; quiet when all is there.
set -euo pipefail

if [ -x "${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}" ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "[test-tools] pgbouncer is missing: install it (Debian/Ubuntu: apt-get install pgbouncer; macOS: brew install pgbouncer, then PGBOUNCER_BIN=\$(which pgbouncer))" >&2
  exit 1
fi
echo "[test-tools] installing pgbouncer (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends pgbouncer >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends pgbouncer >/dev/null; }
