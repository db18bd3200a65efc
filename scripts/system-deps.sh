#!/usr/bin/env bash
# Debian packages the tests need besides PostgreSQL (scripts/postgres.sh handles that one):
# chromium for the demo page's browser test, docker-compose (1.29, offline `config` validation only).
# Idempotent: installs only what is missing.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[system-deps] installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
