# shellcheck shell=bash
# nginx -t on the gateway's configuration as compose mounts it (gateway.test.sh and
# new-service.test.sh). Source it; it sets no shell options.

# nginx_compose_test NGINX GW_DIR DIR: puts nginx.conf, upstreams.compose.conf (as upstreams.conf),
# canary.conf and edge-*.conf of GW_DIR under DIR/conf, as compose mounts them in /etc/nginx, and
# runs NGINX -t on them. The upstreams' compose names (every "server NAME:PORT" line) resolve
# to 127.0.0.2 through a private /etc/hosts in a mount namespace, or, where there is none, are
# written as 127.0.0.2. Prints how the names were resolved; fails as nginx -t does.
nginx_compose_test()
{
    local nginx="$1" gw="$2" dir="$3" names
    mkdir -p "$dir/conf" || return 1
    cp "$gw/nginx.conf" "$gw/canary.conf" "$gw"/edge-{names,routes}.conf "$dir/conf/" || return 1
    cp "$gw/upstreams.compose.conf" "$dir/conf/upstreams.conf" || return 1
    names="$(sed -nE 's/^[[:space:]]*server[[:space:]]+([a-z0-9-]+):[0-9]+.*/\1/p' "$dir/conf/upstreams.conf" |
        sort -u | tr '\n' ' ')"
    printf '127.0.0.1 localhost\n127.0.0.2 %s\n' "$names" >"$dir/hosts"
    local nt=("$nginx" -t -q -p "$dir/" -c "$dir/conf/nginx.conf" -e stderr)
    if unshare --mount -- true 2>/dev/null; then
        # shellcheck disable=SC2016 # expanded by the inner shell
        unshare --mount -- bash -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' _ \
            "$dir/hosts" "${nt[@]}" || return 1
        echo "names from a private /etc/hosts"
    else
        sed -E -i 's/server [a-z0-9-]+:/server 127.0.0.2:/' "$dir/conf/upstreams.conf"
        "${nt[@]}" || return 1
        echo "no mount namespace: names as 127.0.0.2"
    fi
}
