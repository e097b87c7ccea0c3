#!/usr/bin/env bash
# Creates one database per service on first start of the PostgreSQL container (the official
# image runs /docker-entrypoint-initdb.d/*.sh once, on an empty data directory; so does the CI
# stand-in in docker/ci/postgres). The services create their own tables (migrations at start).
# MICROSHOP_DATABASES overrides the list; a database that already exists is left alone.
set -euo pipefail

databases="${MICROSHOP_DATABASES:-product order user inventory notification}"

for db in $databases; do
    if ! [[ $db =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
        echo "init-databases: '$db' is not a plain database name" >&2
        exit 1
    fi
    # %I quotes the name: "order" and "user" are SQL keywords.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" \
        --dbname "${POSTGRES_DB:-$POSTGRES_USER}" -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', current_user)
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
    echo "init-databases: database \"$db\" ready"
done
