#!/bin/sh
# Runs once, when the primary's data directory is first initialised (/docker-entrypoint-initdb.d): lets the
# hot standby of the `scale` compose profile stream WAL as the glimpse user (password auth, like other clients).
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
