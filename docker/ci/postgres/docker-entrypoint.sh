#!/usr/bin/env bash
# Entry point of the CI PostgreSQL stand-in: the parts of the official image's entry point that
# docker-compose.yml and its CI override use (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d, server options after `postgres`).
# First start (empty PGDATA): initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD,
# create POSTGRES_DB, run /docker-entrypoint-initdb.d/* against a server on the socket only (so
# clients and healthchecks over TCP wait until initialisation is over), stop it. Then exec the
# server on every address, scram-sha-256 over TCP.
set -euo pipefail

if [[ ${1:-} != postgres ]]; then
    exec "$@"
fi
shift

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set, as for the official image}"
export POSTGRES_USER="${POSTGRES_USER:-postgres}"
export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

# The socket-only server the init scripts talk to; psql finds it without PGHOST.
run_init_scripts()
{
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sh)
            echo "entrypoint: running $f"
            if [[ -x $f ]]; then "$f"; else
                # shellcheck disable=SC1090
                . "$f"
            fi
            ;;
        *.sql)
            echo "entrypoint: running $f"
            psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" \
                --dbname "$POSTGRES_DB" -f "$f"
            ;;
        *) [[ -e $f ]] && echo "entrypoint: ignoring $f" ;;
        esac
    done
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # POSTGRES_INITDB_ARGS: extra initdb options, split on blanks, as upstream.
    read -r -a initdb_args <<<"${POSTGRES_INITDB_ARGS:-}"
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 "${initdb_args[@]}" >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # The command's own options (e.g. -c fsync=off) apply to this server too, as upstream.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''$(printf ' %q' "$@")" start >/dev/null
    if [[ $POSTGRES_DB != postgres ]]; then
        # psql expands :"db" in its input, not in -c.
        echo 'CREATE DATABASE :"db";' | psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
            --username "$POSTGRES_USER" --dbname postgres -v db="$POSTGRES_DB"
    fi
    run_init_scripts
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "entrypoint: initialisation complete; starting PostgreSQL"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
