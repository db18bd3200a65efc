#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL with pgvector for Glimpse, then creates the
# database and user. Idempotent and quick when everything is already in place; CI and developers use
# the same script.  Handles Debian 12 (PostgreSQL 15; bookworm ships no pgvector binary, so the newest
# source package apt can download is built: trixie's 0.8.0, with a warning) and Debian 13 (PostgreSQL 17 +
# postgresql-17-pgvector), and takes a newer binary from the PostgreSQL APT repository when it is configured.
#
# Environment (all optional):
#   GLIMPSE_PG_PORT      port of the cluster            (default 5432)
#   GLIMPSE_PG_DB        database name                  (default glimpse)
#   GLIMPSE_PG_USER      role name                      (default glimpse)
#   GLIMPSE_PG_PASSWORD  role password                  (default glimpse)
#   GLIMPSE_PG_PGVECTOR_SRC_SUITES  Debian suites whose pgvector source packages may be built (default trixie)
#   GLIMPSE_PG_PGVECTOR_UPGRADE     1: replace installed pgvector files when apt has a newer binary (default 0)
#   GLIMPSE_PG_SHARED_BUFFERS  shared_buffers to set    (default 25% of RAM, capped at 8GB: the HNSW
#                        index must stay resident, ~2 GB per million 768-d vectors, see docs/performance.md)
set -euo pipefail

PORT=${GLIMPSE_PG_PORT:-5432}
DB=${GLIMPSE_PG_DB:-glimpse}
USER_NAME=${GLIMPSE_PG_USER:-glimpse}
PASSWORD=${GLIMPSE_PG_PASSWORD:-glimpse}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "[postgres.sh] $*" >&2; }

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
}

. /etc/os-release
CODENAME=${VERSION_CODENAME:-bookworm}

# 1. PostgreSQL server
PG_VERSION=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
if [ -z "$PG_VERSION" ] || [ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
  log "installing PostgreSQL from Debian"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  PG_VERSION=$(ls /usr/lib/postgresql | sort -n | tail -1)
fi
PG_CONFIG=/usr/lib/postgresql/$PG_VERSION/bin/pg_config
SHAREDIR=$($PG_CONFIG --sharedir)

# 2. pgvector: apt's binary package when there is one, else the newest source package apt can download, built
#    here. 0.8.3 fixed a possible HNSW index corruption during VACUUM (and 0.8.2 a buffer overflow in parallel HNSW
#    builds, CVE-2026-3172): anything older is used with a warning. Extension files already installed are kept
#    (the running cluster loads them); GLIMPSE_PG_PGVECTOR_UPGRADE=1 replaces older ones when apt has newer.
PGVECTOR_FIXED=0.8.3
# source suites tried for `apt-get source`: their indexes may list versions whose files are not downloadable here
PGVECTOR_SRC_SUITES=${GLIMPSE_PG_PGVECTOR_SRC_SUITES:-trixie}
installed_pgvector() { sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHAREDIR/extension/vector.control" 2>/dev/null || true; }
binary_candidate() {
  apt-cache policy "postgresql-$PG_VERSION-pgvector" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}'
}
build_pgvector_from_source() {
  local list=/etc/apt/sources.list.d/glimpse-pgvector-src.list want="" suite
  for suite in $PGVECTOR_SRC_SUITES; do want+="deb-src http://deb.debian.org/debian $suite main"$'\n'; done
  if [ "$(cat "$list" 2>/dev/null)"$'\n' != "$want" ]; then
    printf '%s' "$want" | $SUDO tee "$list" >/dev/null
    $SUDO rm -f /etc/apt/sources.list.d/glimpse-trixie-src.list # the older, trixie-only name of this list
    $SUDO apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dpkg-dev make gcc "postgresql-server-dev-$PG_VERSION" >/dev/null
  local build v src
  build=$(mktemp -d)
  # newest first; a version whose files cannot be fetched (404) falls through to the next
  for v in $(apt-cache showsrc pgvector 2>/dev/null | awk '/^Version:/ {print $2}' | sort -u | sort -rV); do
    # upgrading: only versions newer than the installed one
    if [ -n "$have" ] && ! dpkg --compare-versions "${v%%-*}" gt "$have"; then continue; fi
    if ( cd "$build" && apt-get source -qq "pgvector=$v" >/dev/null 2>&1 ); then
      src=$(find "$build" -maxdepth 1 -type d -name 'pgvector-*' | head -1)
      [ -n "$src" ] && { log "building pgvector $v from source for PostgreSQL $PG_VERSION"; break; }
    fi
    log "pgvector source $v is listed but could not be downloaded; trying an older one"
    rm -rf "${build:?}"/*
    src=""
  done
  if [ -z "${src:-}" ]; then
    rm -rf "$build"
    [ -n "$have" ] && { log "no newer pgvector source package could be downloaded; keeping $have"; return 0; }
    log "no pgvector source package could be downloaded (suites: $PGVECTOR_SRC_SUITES)"
    exit 1
  fi
  make -s -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
  $SUDO make -s -C "$src" PG_CONFIG="$PG_CONFIG" install >/dev/null
  rm -rf "$build"
}
have=$(installed_pgvector)
if [ -z "$have" ] || [ "${GLIMPSE_PG_PGVECTOR_UPGRADE:-0}" = 1 ]; then
  apt_update_once
  cand=$(binary_candidate)
  if [ -n "$cand" ] && { [ -z "$have" ] || dpkg --compare-versions "${cand%%-*}" gt "$have"; }; then
    log "installing postgresql-$PG_VERSION-pgvector $cand"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-$PG_VERSION-pgvector" >/dev/null
  else
    build_pgvector_from_source
  fi
fi
have=$(installed_pgvector)
if dpkg --compare-versions "$have" lt "$PGVECTOR_FIXED"; then
  log "WARNING: pgvector $have is older than $PGVECTOR_FIXED, which fixed a possible HNSW index corruption during"
  log "  VACUUM (0.8.2 fixed a buffer overflow in parallel HNSW builds, CVE-2026-3172). For a newer one, add the"
  log "  PostgreSQL APT repository (apt.postgresql.org, postgresql-$PG_VERSION-pgvector) or a source suite that"
  log "  serves one (GLIMPSE_PG_PGVECTOR_SRC_SUITES) and rerun with GLIMPSE_PG_PGVECTOR_UPGRADE=1; then"
  log "  ALTER EXTENSION vector UPDATE and REINDEX (docs/migrations.md)."
fi

# 3. a cluster on 127.0.0.1
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" '$1==v' | grep -q .; then
  log "creating cluster $PG_VERSION/main"
  $SUDO pg_createcluster "$PG_VERSION" main -p "$PORT" >/dev/null
fi
CLUSTER_PORT=$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $3}')
CONF=/etc/postgresql/$PG_VERSION/main/postgresql.conf
MEM_KB=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
SB_MB=$(( MEM_KB / 1024 / 4 )); [ "$SB_MB" -gt 8192 ] && SB_MB=8192
SHARED_BUFFERS=${GLIMPSE_PG_SHARED_BUFFERS:-${SB_MB}MB}
CONF_D=/etc/postgresql/$PG_VERSION/main/conf.d
$SUDO mkdir -p "$CONF_D"
desired="# written by glimpse scripts/postgres.sh
listen_addresses = '127.0.0.1'
port = $PORT
shared_buffers = '$SHARED_BUFFERS'
maintenance_work_mem = '1GB'
effective_cache_size = '$(( MEM_KB / 1024 / 2 ))MB'
max_connections = 200"
if [ "$(cat "$CONF_D/glimpse.conf" 2>/dev/null)" != "$desired" ] || [ "$CLUSTER_PORT" != "$PORT" ]; then
  echo "$desired" | $SUDO tee "$CONF_D/glimpse.conf" >/dev/null
  grep -q "^include_dir = 'conf.d'" "$CONF" || echo "include_dir = 'conf.d'" | $SUDO tee -a "$CONF" >/dev/null
  $SUDO sed -i "s/^port = .*/port = $PORT/" "$CONF"
  if pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
    $SUDO pg_ctlcluster "$PG_VERSION" main restart
  fi
fi
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting cluster $PG_VERSION/main on 127.0.0.1:$PORT"
  $SUDO pg_ctlcluster "$PG_VERSION" main start
fi

# 4. role and database (the role may create databases: Prisma's shadow database needs it)
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
psql_su() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
for _ in $(seq 1 30); do psql_su -c 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
if [ "$(psql_su -c "select 1 from pg_roles where rolname='$USER_NAME'")" != "1" ]; then
  psql_su -c "create role \"$USER_NAME\" login createdb password '$PASSWORD'"
fi
# tests drop their scratch databases WITH (FORCE); an autovacuum worker inside one can only be terminated
# by a member of pg_signal_backend
psql_su -c "grant pg_signal_backend to \"$USER_NAME\"" >/dev/null
if [ "$(psql_su -c "select 1 from pg_database where datname='$DB'")" != "1" ]; then
  psql_su -c "create database \"$DB\" owner \"$USER_NAME\""
fi
# pgvector is a trusted extension only from 0.8 on in some builds; create it as superuser in template1
# too, so that databases made by tests and Prisma's shadow database have it available.
psql_su -d "$DB" -c "create extension if not exists vector"
psql_su -d template1 -c "create extension if not exists vector"
running=$(psql_su -d "$DB" -c "select extversion from pg_extension where extname='vector'")
if dpkg --compare-versions "$running" lt "$have"; then
  log "the database runs pgvector $running but $have is installed: ALTER EXTENSION vector UPDATE (docs/migrations.md)"
fi
log "ready: postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB (PostgreSQL $PG_VERSION, pgvector $running)"
echo "postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
