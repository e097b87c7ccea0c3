# shellcheck shell=bash
# Shared helpers for the scripts in this folder: paths, the service table, process and build helpers.
# Source it (". scripts/lib.sh"); it sets no shell options and starts nothing.

# The repository root, with symlinks resolved so paths compare equal to /proc/PID/exe.
MS_ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"

# Turns a path into an absolute one (relative paths are taken from the current directory).
ms_abspath()
{
    realpath -m -- "$1"
}

# Where up.sh keeps PostgreSQL, Redis, logs and PID files; builds go to build/ (build-asan/ for
# the sanitizer build).
MS_DATA_DIR="$(ms_abspath "${MS_DATA_DIR:-$MS_ROOT/.data}")"
MS_BUILD_DIR="$(ms_abspath "${MS_BUILD_DIR:-$MS_ROOT/build}")"
MS_ASAN_BUILD_DIR="$(ms_abspath "${MS_ASAN_BUILD_DIR:-$MS_ROOT/build-asan}")"

# Non-default ports, so a system PostgreSQL or Redis is never touched, and below the ephemeral
# range (32768-60999), where a connection in TIME_WAIT could hold them after a test run.
MS_PG_DEFAULT_PORT=9432
MS_REDIS_DEFAULT_PORT=9379
MS_PG_PORT="${MS_PG_PORT:-$MS_PG_DEFAULT_PORT}"
MS_REDIS_PORT="${MS_REDIS_PORT:-$MS_REDIS_DEFAULT_PORT}"

# Every service, in start order: name, default port, variable overriding the port, database
# ("-" for none). Add a service here and everything else follows.
MS_SERVICE_TABLE='
product       3001  PRODUCT_PORT       product
cart          3002  CART_PORT          -
order         3003  ORDER_PORT         order
user          3004  USER_PORT          user
inventory     3005  INVENTORY_PORT     inventory
notification  3006  NOTIFICATION_PORT  notification
frontend      3000  FRONTEND_PORT      -
'

# Beside the table's services `make up` runs the product canary (the product binary with
# SERVICE_VERSION=v2, PID file product-v2.pid) and the gateway (nginx, gateway.pid) when nginx is
# installed. Their ports, read when used: PRODUCT_V2_PORT and MS_GATEWAY_PORT.
MS_PRODUCT_V2_DEFAULT_PORT=3011
MS_GATEWAY_DEFAULT_PORT=8080

# Prints an error and exits.
ms_die()
{
    echo "error: $*" >&2
    exit 1
}

# Prints a section header.
ms_section()
{
    printf '\n==== %s ====\n' "$*"
}

# Prints every service name in the table, one a line.
ms_services()
{
    local name rest
    while read -r name rest; do
        [[ -n $name ]] && echo "$name"
    done <<<"$MS_SERVICE_TABLE"
    return 0
}

# Prints the table row of service $1 (name port var db); fails for an unknown service.
ms_service_row()
{
    local name port var db
    while read -r name port var db; do
        if [[ $name == "$1" ]]; then
            echo "$name $port $var $db"
            return 0
        fi
    done <<<"$MS_SERVICE_TABLE"
    echo "error: unknown service '$1'" >&2
    return 1
}

# Prints the port of service $1: its override variable if set, else the default.
ms_service_port()
{
    local row name port var db
    row="$(ms_service_row "$1")" || return 1
    read -r name port var db <<<"$row"
    port="${!var:-$port}"
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        echo "error: $var='$port' is not a port" >&2
        return 1
    fi
    echo "$port"
}

# ms_port_value VAR DEFAULT: prints the port in variable VAR, or DEFAULT when it is unset or
# empty; fails when it is not a port.
ms_port_value()
{
    local var="$1" port="${!1:-$2}"
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        echo "error: $var='$port' is not a port" >&2
        return 1
    fi
    echo "$port"
}

# Prints the port of instance $1: a service of the table, product-v2 or gateway.
ms_instance_port()
{
    case $1 in
    product-v2) ms_port_value PRODUCT_V2_PORT "$MS_PRODUCT_V2_DEFAULT_PORT" ;;
    gateway) ms_port_value MS_GATEWAY_PORT "$MS_GATEWAY_DEFAULT_PORT" ;;
    *) ms_service_port "$1" ;;
    esac
}

# Prints the name of the variable overriding instance $1's port.
ms_instance_port_var()
{
    case $1 in
    product-v2) echo PRODUCT_V2_PORT ;;
    gateway) echo MS_GATEWAY_PORT ;;
    *) ms_service_port_var "$1" ;;
    esac
}

# Prints the base URL of instance $1 (see ms_instance_port).
ms_instance_url()
{
    local port
    port="$(ms_instance_port "$1")" || return 1
    echo "http://127.0.0.1:$port"
}

# Prints the name of the variable overriding service $1's port.
ms_service_port_var()
{
    local row name port var db
    row="$(ms_service_row "$1")" || return 1
    read -r name port var db <<<"$row"
    echo "$var"
}

# Prints the database name of service $1, or nothing when it has none.
ms_service_db()
{
    local row name port var db
    row="$(ms_service_row "$1")" || return 1
    read -r name port var db <<<"$row"
    [[ $db == "-" ]] || echo "$db"
}

# Prints the base URL of service $1.
ms_service_url()
{
    local port
    port="$(ms_service_port "$1")" || return 1
    echo "http://127.0.0.1:$port"
}

# Prints the path of the binary of service $1 in the default build.
ms_service_bin()
{
    echo "$MS_BUILD_DIR/services/$1/$1"
}

ms_pid_file()
{
    echo "$MS_DATA_DIR/run/$1.pid"
}

ms_log_file()
{
    echo "$MS_DATA_DIR/log/$1.log"
}

# Prints the services whose binary has been built, in table order.
ms_built_services()
{
    local name
    while read -r name; do
        if [[ -x "$(ms_service_bin "$name")" ]]; then
            echo "$name"
        fi
    done < <(ms_services)
    return 0
}

# Succeeds when process $1 exists and is not a zombie.
ms_pid_running()
{
    local stat
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ -n $stat && $stat != Z* ]]
}

# Succeeds when process $1 is running the binary of service $2, so a recycled PID is never
# mistaken for ours. A binary rebuilt or removed while running shows as "PATH (deleted)".
# product-v2 runs product's binary; gateway is an nginx master started with our prefix.
ms_pid_is_service()
{
    local exe cmdline
    ms_pid_running "$1" || return 1
    exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
    exe="${exe% (deleted)}"
    case $2 in
    product-v2) [[ $exe == "$(ms_service_bin product)" ]] ;;
    fp-*) [[ $exe == "$(ms_faultproxy_bin)" ]] ;;
    gateway)
        # nginx rewrites its title to "nginx: master process /usr/sbin/nginx -p PREFIX ...".
        cmdline="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
        [[ ${exe##*/} == nginx && $cmdline == *" -p $(ms_gateway_prefix)/ "* ]]
        ;;
    *) [[ $exe == "$(ms_service_bin "$2")" ]] ;;
    esac
}

# Prints the PID of service $2's running process from its PID file; fails when it is not running.
ms_service_pid()
{
    local file pid
    file="$(ms_pid_file "$1")"
    [[ -f $file ]] || return 1
    pid="$(<"$file")"
    ms_pid_is_service "$pid" "$1" || return 1
    echo "$pid"
}

# Succeeds when something listens on TCP port $1 of any local address.
ms_port_busy()
{
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

# wait_ready URL TIMEOUT [PID]: polls URL/ready (URL may already end in /ready) until it answers
# 200; fails after TIMEOUT seconds, or as soon as process PID, when given, has exited.
wait_ready()
{
    local url="${1%/}"
    ms_wait_url "${url%/ready}/ready" "$2" "${3:-}"
}

# ms_wait_url URL TIMEOUT [PID]: polls URL until it answers 200; fails after TIMEOUT seconds, or
# as soon as process PID, when given, has exited.
ms_wait_url()
{
    local url="$1" timeout="$2" pid="${3:-}" code="none" deadline
    deadline=$((SECONDS + timeout))
    while :; do
        code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)" || true
        [[ $code == 200 ]] && return 0
        if [[ -n $pid ]] && ! ms_pid_running "$pid"; then
            echo "error: process $pid exited before $url answered 200" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            [[ $code == 000 || -z $code ]] && code="no answer"
            echo "error: $url did not answer 200 within ${timeout}s (last: $code)" >&2
            return 1
        fi
        sleep 0.2
    done
}

# ms_configure DIR [CMAKE_ARGS...]: configures the suite into DIR, exporting compile_commands.json
# (clang-tidy reads it). The build type defaults to RelWithDebInfo; a later -D overrides it.
ms_configure()
{
    local dir="$1"
    shift
    cmake -S "$MS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@"
}

# ms_build DIR [CMAKE_ARGS...]: configures and builds DIR on every core.
ms_build()
{
    ms_configure "$@" && cmake --build "$1" -j "$(nproc)"
}

# The sanitizer build (ASan + UBSan) in build-asan/.
ms_build_asan()
{
    ms_build "$MS_ASAN_BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DMS_ASAN=ON -DMS_UBSAN=ON
}

# Runtime options for the sanitizer build: leaks fail, any report stops the process.
ms_export_sanitizer_options()
{
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
}

# ms_c_files [DIR...]: prints the C sources and headers under DIRs (default: common services
# tests), relative to the repo root: tracked files plus untracked ones not ignored by git.
ms_c_files()
{
    local dirs=("$@") pattern
    ((${#dirs[@]})) || dirs=(common services tests)
    pattern="$(IFS='|' && echo "${dirs[*]}")"
    (
        cd "$MS_ROOT" || exit 1
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git ls-files --cached --others --exclude-standard -- '*.c' '*.h'
        else
            find . -path ./.git -prune -o -path './build*' -prune -o \
                -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||'
        fi | grep -E "^($pattern)/" | sort -u | while read -r f; do
            if [[ -f $f ]]; then
                echo "$f"
            fi
        done || true
    )
}

# ---- the gateway (gateway/nginx.conf; see the comment at its top) ----

# Prints the nginx binary (also found in /usr/sbin when PATH lacks it); fails when there is none.
ms_nginx_bin()
{
    local bin
    bin="$(PATH="$PATH:/usr/sbin:/sbin" command -v nginx)" || return 1
    realpath -- "$bin"
}

# Prints the nginx prefix of `make up`'s gateway: its configuration, pid and temporary files.
ms_gateway_prefix()
{
    echo "$MS_DATA_DIR/gateway"
}

# ms_gateway_reload PID: makes the nginx master PID load its configuration again (SIGHUP) and
# waits, up to 5 s, until the workers of the old configuration have exited, so that once it
# returns every new connection is served by the new configuration. Fails when PID is no master.
ms_gateway_reload()
{
    local master="$1" old deadline
    old="$(pgrep -P "$master" | sort)"
    kill -HUP "$master" || return 1
    deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        # still one of the old workers among the master's children?
        if [[ -z "$(comm -12 <(echo "$old") <(pgrep -P "$master" | sort))" ]]; then
            return 0
        fi
        sleep 0.05
    done
    echo "warning: gateway: old workers still running 5 s after the reload" >&2
}

# ms_canary_rewrite PERCENT: copies nginx.conf from stdin to stdout with the canary's share in
# split_clients set to PERCENT % (the file says 10 %): 0 sends every request to v1, 100 every
# request to v2 (nginx wants no 0 % entry, and nothing left for "*" past 100 %).
ms_canary_rewrite()
{
    local pct="$1" v2_re='^([[:space:]]*)10% product_v2;[[:space:]]*$'
    if ! [[ $pct =~ ^[0-9]{1,3}$ ]] || ((10#$pct > 100)); then
        echo "error: MS_CANARY_PERCENT='$pct' is not a percentage from 0 to 100" >&2
        return 1
    fi
    pct=$((10#$pct))
    awk -v pct="$pct" -v v2_re="$v2_re" '
        $0 ~ v2_re { found++; if (pct == 0) next; indent = $0; sub(/[^[:space:]].*/, "", indent)
                     if (pct == 100) { print indent "* product_v2;"; skip_default = 1; next }
                     print indent pct "% product_v2;"; next }
        skip_default && /^[[:space:]]*\*[[:space:]]+product_v1;/ { skip_default = 0; next }
        { print }
        END { if (found != 1) { print "error: nginx.conf must have exactly one \"10% product_v2;\" line" > "/dev/stderr"; exit 1 } }'
}

# ms_gateway_render DEST_DIR: writes DEST_DIR/nginx.conf, gateway/nginx.conf listening on
# MS_BIND_ADDRESS (default 127.0.0.1) and MS_GATEWAY_PORT with MS_CANARY_PERCENT (0..100,
# default 10) of the product requests going to v2 (ms_canary_rewrite), and DEST_DIR/upstreams.conf,
# gateway/upstreams.native.conf with each 127.0.0.1:<default port> of a service (3011 for the
# canary) turned into the port that service uses now (PRODUCT_PORT, PRODUCT_V2_PORT, ...).
ms_gateway_render()
{
    local dest="$1" src="$MS_ROOT/gateway" port bind map name dport var db listen_re
    port="$(ms_instance_port gateway)" || return 1
    bind="${MS_BIND_ADDRESS:-127.0.0.1}"
    if [[ $bind == *:* ]]; then
        bind="[$bind]"
    fi
    map="$MS_PRODUCT_V2_DEFAULT_PORT=$(ms_instance_port product-v2)" || return 1
    while read -r name dport var db; do
        if [[ -n $name ]]; then
            map+=" $dport=$(ms_service_port "$name")" || return 1
        fi
    done <<<"$MS_SERVICE_TABLE"
    mkdir -p "$dest" || return 1

    listen_re='^([[:space:]]*listen[[:space:]]+)8080;[[:space:]]*$'
    if [[ "$(grep -cE "$listen_re" "$src/nginx.conf")" != 1 ]]; then
        echo "error: $src/nginx.conf must have exactly one 'listen 8080;' line" >&2
        return 1
    fi
    sed -E "s/$listen_re/\1$bind:$port;/" "$src/nginx.conf" |
        ms_canary_rewrite "${MS_CANARY_PERCENT:-10}" >"$dest/nginx.conf" || return 1

    awk -v map="$map" '
        BEGIN {
            n = split(map, pairs, " ")
            for (i = 1; i <= n; i++) {
                split(pairs[i], kv, "=")
                to[kv[1]] = kv[2]
            }
        }
        {
            rest = $0
            out = ""
            while (match(rest, /127\.0\.0\.1:[0-9]+/)) {
                p = substr(rest, RSTART + 10, RLENGTH - 10)
                if (!(p in to)) {
                    printf "error: %s:%d: 127.0.0.1:%s is no default port of the suite\n", \
                        FILENAME, FNR, p > "/dev/stderr"
                    exit 1
                }
                out = out substr(rest, 1, RSTART - 1) "127.0.0.1:" to[p]
                rest = substr(rest, RSTART + RLENGTH)
            }
            print out rest
        }' "$src/upstreams.native.conf" >"$dest/upstreams.conf"
}

# ---- the supervisor (runit) ----
# `make up` runs every instance (the table's services, product-v2, the gateway) as a runit service:
# $MS_DATA_DIR/sv/<name>/ holds its `run` script (written by up.sh) and `finish` script; one
# `runsv` per directory starts `run`, restarts it whenever it exits (at once if it had run for a
# second, else after one second) and keeps its state in sv/<name>/supervise/; one `runsvdir`
# (PID file run/runsvdir.pid) starts a runsv for every directory and restarts a runsv that dies.
# `run` writes the instance's PID to run/<name>.pid before it execs the binary, so that file
# always names the running process; `finish` removes it. Control with `sv` and the directory:
#   sv status .data/sv/cart    sv restart .data/sv/cart    sv stop .data/sv/cart

# Prints the directory runsvdir watches, or the service directory of instance $1.
ms_sv_dir()
{
    echo "$MS_DATA_DIR/sv${1:+/$1}"
}

# Prints the PID of our runsvdir (the one watching ms_sv_dir); fails when it is not running.
ms_runsvdir_pid()
{
    local file pid exe cmdline
    file="$(ms_pid_file runsvdir)"
    [[ -f $file ]] || return 1
    pid="$(<"$file")"
    ms_pid_running "$pid" || return 1
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ ${exe##*/} == runsvdir && $cmdline == *" $(ms_sv_dir) "* ]] || return 1
    echo "$pid"
}

# Prints the state runsv reports for instance $1 (run, down, finish); fails when no runsv
# supervises it.
ms_sv_state()
{
    local out
    out="$(sv status "$(ms_sv_dir "$1")" 2>/dev/null)" || return 1
    echo "${out%%:*}"
}

# ms_sv_write NAME COMMAND...: writes the run and finish scripts of instance NAME, for COMMAND
# (each word quoted as given) run in its own session (setsid: a process group of its own, which
# finish can clean up), its output appended to ms_log_file NAME.
ms_sv_write()
{
    local name="$1" dir log pidf
    shift
    dir="$(ms_sv_dir "$name")"
    log="$(ms_log_file "$name")"
    pidf="$(ms_pid_file "$name")"
    mkdir -p "$dir" || return 1
    # shellcheck disable=SC2016 # the $ expressions belong to the scripts written
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by scripts/up.sh: runsv runs this to start $name, and again whenever it exits."
        echo '# `run surge` starts a second process beside the supervised one, for a rolling restart'
        echo "# (chaos/local/rolling-restart.sh): it shares the port and writes no PID file."
        printf 'exec >>%q 2>&1 </dev/null\n' "$log"
        printf 'if [[ ${1:-} != surge ]]; then echo "$$" >%q; fi\n' "$pidf"
        printf 'printf '\''\\n==== %%s: starting %%s%%s (pid %%s) ====\\n'\'' "$(date -Is)" %q "${1:+ ($1)}" "$$"\n' "$name"
        printf 'exec setsid'
        printf ' %q' "$@"
        printf '\n'
    } >"$dir/run.new" || return 1
    # shellcheck disable=SC2016 # the $ expressions belong to the scripts written
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by scripts/up.sh: runsv runs this after $name exited (\$1 status, \$2 signal)."
        echo "# Kills what is left of its process group (nginx workers outlive a killed master and"
        echo "# would keep the port) and removes the PID file; then runsv starts ./run again."
        printf 'pid="$(cat %q 2>/dev/null)"\n' "$pidf"
        echo 'if [[ $pid =~ ^[0-9]+$ ]]; then'
        echo '    kill -KILL -- "-$pid" 2>/dev/null'
        echo 'fi'
        printf 'rm -f %q\n' "$pidf"
        echo 'exit 0'
    } >"$dir/finish.new" || return 1
    chmod 755 "$dir/run.new" "$dir/finish.new" &&
        mv -f "$dir/finish.new" "$dir/finish" && mv -f "$dir/run.new" "$dir/run"
}

# Starts our runsvdir in the background (its own session, output in log/runsvdir.log) unless
# it runs; prints its PID. Start it after writing the service directories: it scans at once, and
# then only every five seconds.
ms_runsvdir_start()
{
    local dir pid
    if pid="$(ms_runsvdir_pid)"; then
        echo "$pid"
        return 0
    fi
    dir="$(ms_sv_dir)"
    mkdir -p "$dir" "$MS_DATA_DIR/run" "$MS_DATA_DIR/log" || return 1
    # runsvdir waits a second before a scan of a directory changed within the current second.
    touch -d '-2 seconds' "$dir"
    # The last argument is runsvdir's message area (errors of its runsv processes show in ps).
    nohup setsid runsvdir -P "$dir" "log: ........................................" \
        </dev/null >>"$(ms_log_file runsvdir)" 2>&1 &
    pid=$!
    echo "$pid" >"$(ms_pid_file runsvdir)"
    echo "$pid"
}

# ms_sv_wait_pid NAME TIMEOUT: waits until instance NAME's process runs its binary (runsvdir may
# take five seconds to notice a new directory); prints its PID, or fails after TIMEOUT seconds.
ms_sv_wait_pid()
{
    local deadline=$((SECONDS + $2)) pid
    while ! pid="$(ms_service_pid "$1")"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
    echo "$pid"
}

# ---- faultproxy (tools/faultproxy/README.md): `MS_FAULTPROXY=1 make up` runs one proxy in front
# of every dependency and points the services at them; off by default. ----

# The first port of the proxies: each takes two (where clients connect, then its admin API).
MS_FAULTPROXY_DEFAULT_PORT=9500

ms_faultproxy_enabled()
{
    [[ ${MS_FAULTPROXY:-0} == 1 ]]
}

ms_faultproxy_bin()
{
    echo "$MS_BUILD_DIR/tools/faultproxy/faultproxy"
}

# Prints "NAME UPSTREAM_PORT PORT ADMIN_PORT CALLER DEPENDENCY", one proxy a line, in table order
# so that the ports stay the same from run to run: SERVICE-pg for each service with a database,
# SERVICE-redis for each service, and CALLER-CALLEE for each pair of MS_FAULTPROXY_EDGES
# ("order:inventory" by default: the calls order makes to inventory). DEPENDENCY is pg, redis or
# the callee's name.
ms_faultproxy_list()
{
    local base i=0 name edge port row rows=() up caller dep
    base="$(ms_port_value MS_FAULTPROXY_PORT "$MS_FAULTPROXY_DEFAULT_PORT")" || return 1
    for name in $(ms_services); do
        [[ -n "$(ms_service_db "$name")" ]] && rows+=("$name-pg $MS_PG_PORT $name pg")
        rows+=("$name-redis $MS_REDIS_PORT $name redis")
    done
    for edge in ${MS_FAULTPROXY_EDGES-order:inventory}; do
        port="$(ms_service_port "${edge#*:}")" || return 1
        rows+=("${edge%%:*}-${edge#*:} $port ${edge%%:*} ${edge#*:}")
    done
    for row in "${rows[@]}"; do
        read -r name up caller dep <<<"$row"
        echo "$name $up $((base + 2 * i)) $((base + 2 * i + 1)) $caller $dep"
        i=$((i + 1))
    done
}

# ms_faultproxy_env SERVICE: the settings that point SERVICE at its proxies (NAME=VALUE, one a
# line, to follow service_env's own); nothing when the proxies are off.
ms_faultproxy_env()
{
    local name up port _ caller dep db upper
    ms_faultproxy_enabled || return 0
    while read -r name up port _ caller dep; do
        [[ $caller == "$1" ]] || continue
        case $dep in
        pg)
            db="$(ms_service_db "$1")"
            echo "DATABASE_URL=postgresql://ms@127.0.0.1:$port/$db"
            ;;
        redis) echo "REDIS_URL=redis://127.0.0.1:$port/0" ;;
        *)
            upper="$(tr '[:lower:]' '[:upper:]' <<<"$dep")"
            echo "${upper}_URL=http://127.0.0.1:$port"
            ;;
        esac
    done < <(ms_faultproxy_list)
}
