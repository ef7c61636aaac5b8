#!/bin/sh
# Grafana's read-only role (grafana/README.md). Runs once, when the postgres container
# initialises an empty data directory. It is granted SELECT on the panels' columns only,
# after `cloud init-db` made them: grafana/reader-grants.sql (generated from the panel
# catalogue; never users, keys or personal data).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE grafana_reader LOGIN PASSWORD '${DEHONG_PG_GRAFANA_PASSWORD}';
GRANT CONNECT ON DATABASE ${POSTGRES_DB} TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
SQL
