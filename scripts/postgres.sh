#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL with pgvector for Glimpse, then creates the
# database and user. Idempotent and quick when everything is already in place; CI and developers use
# the same script.  Handles Debian 12 (PostgreSQL 15, pgvector built from Debian's trixie source
# package because bookworm ships no binary) and Debian 13 (PostgreSQL 17 + postgresql-17-pgvector).
#
# Environment (all optional):
#   GLIMPSE_PG_PORT      port of the cluster            (default 5432)
#   GLIMPSE_PG_DB        database name                  (default glimpse)
#   GLIMPSE_PG_USER      role name                      (default glimpse)
#   GLIMPSE_PG_PASSWORD  role password                  (default glimpse)
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

# 2. pgvector
if [ ! -f "$SHAREDIR/extension/vector.control" ]; then
  apt_update_once
  if apt-cache show "postgresql-$PG_VERSION-pgvector" >/dev/null 2>&1; then
    log "installing postgresql-$PG_VERSION-pgvector"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "postgresql-$PG_VERSION-pgvector" >/dev/null
  else
    log "building pgvector from Debian's trixie source package for PostgreSQL $PG_VERSION"
    if [ ! -f /etc/apt/sources.list.d/glimpse-trixie-src.list ]; then
      echo "deb-src http://deb.debian.org/debian trixie main" | $SUDO tee /etc/apt/sources.list.d/glimpse-trixie-src.list >/dev/null
      $SUDO apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dpkg-dev make gcc "postgresql-server-dev-$PG_VERSION" >/dev/null
    build=$(mktemp -d)
    ( cd "$build" && apt-get source -qq pgvector >/dev/null 2>&1 )
    src=$(find "$build" -maxdepth 1 -type d -name 'pgvector-*' | head -1)
    [ -n "$src" ] || { log "apt-get source pgvector failed"; exit 1; }
    make -s -C "$src" PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
    $SUDO make -s -C "$src" PG_CONFIG="$PG_CONFIG" install >/dev/null
    rm -rf "$build"
  fi
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
log "ready: postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB (PostgreSQL $PG_VERSION, pgvector $(psql_su -d "$DB" -c "select extversion from pg_extension where extname='vector'"))"
echo "postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
