#!/usr/bin/env bash
# Tools the tests run beside PostgreSQL and RabbitMQ, installed when missing (Debian's
# packages): PgBouncer, which tests start on ports of their own to check the package
# through a connection pooler; promtool (package prometheus; its server is never
# started), which checks the shipped alert rules and dashboard queries; Chromium,
# headless, for the console's page tests. Safe to repeat; quiet when all is there.
set -euo pipefail

missing=()
[ -x "${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}" ] || missing+=(pgbouncer)
[ -x "${PROMTOOL_BIN:-/usr/bin/promtool}" ] || missing+=(prometheus)
[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "[test-tools] missing: ${missing[*]}: install them (Debian/Ubuntu: apt-get install ${missing[*]}; macOS: brew install pgbouncer prometheus and a Chromium, then PGBOUNCER_BIN=\$(which pgbouncer) PROMTOOL_BIN=\$(which promtool) CHROMIUM_BIN=<its executable>)" >&2
  exit 1
fi
echo "[test-tools] installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# The prometheus package would start its server where an init system runs: only promtool is wanted.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
install_packages() { apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
install_packages || { apt-get update -q >/dev/null && install_packages; }
