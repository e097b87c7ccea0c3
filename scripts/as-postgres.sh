# shellcheck shell=bash
# Sourced by scripts/pg.sh and scripts/pooler.sh: PostgreSQL and PgBouncer both refuse to run as
# root, so under root their tools run as the `postgres` user.

# Runs a server tool as its owner. runuser lives in sbin, which a caller's PATH (a test harness,
# make) may lack.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        PATH="$PATH:/usr/sbin:/sbin" runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Exits through the script's die unless $1 is a TCP port number.
check_port() {
    if ! [[ "$1" =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
        die "bad port: $1"
    fi
}
