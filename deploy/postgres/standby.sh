#!/bin/sh
# The hot standby of the `scale` compose profile: on first start, a base backup of the primary with
# standby.signal and primary_conninfo written (-R); afterwards it just starts and streams from the primary.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgres -U "$POSTGRES_USER" -d "$POSTGRES_DB"; do sleep 1; done
  PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -h postgres -U "$POSTGRES_USER" -D "$PGDATA" -R -X stream -c fast
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c shared_buffers="${PG_SHARED_BUFFERS:-4GB}" -c max_connections=200
