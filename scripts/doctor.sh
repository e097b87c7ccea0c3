#!/usr/bin/env bash
# `make doctor [WAY=native|compose|kubernetes|all]`: checks this machine for what one way of
# running the shop needs and names what is missing or too old, each with the command that fixes
# it. Starts nothing, changes nothing. Exit status: 0 all good, 1 something to fix, 2 usage.
#
#   scripts/doctor.sh [native|compose|kubernetes|all]   (default: native on Linux, else compose)
#   scripts/doctor.sh line-endings [DIR]                only the line-ending check of a checkout
#   scripts/doctor.sh bundle                            only whether compose's images are all here
#
# The compose and Kubernetes checks run under macOS's bash 3.2 too (they say it is too old for
# bin/lab). Every way: the architecture, bash 4 and GNU realpath, memory, curl and jq (the
# labs), CRLF line endings in the checkout (.gitattributes keeps them LF). native: Debian/Ubuntu, cmake, a C compiler, pkg-config and the
# libraries, PostgreSQL, PgBouncer, Redis, nginx, runit, make up's ports. compose: docker or podman with a
# compose, the ports docker-compose.yml publishes, whether its images are all here (a loaded
# bundle; a note, not a problem, when not). kubernetes: kubectl, kind, istioctl, helm, a
# container runtime, the KIND host port. A port held by the shop itself counts as fine.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# The lowest versions that work; the CMakeLists needs C17 (3.21), the rest is what the labs use.
MIN_CMAKE=3.21
MIN_CURL=7.68
MIN_DOCKER_COMPOSE=2.17
MIN_PODMAN=4.3
MIN_PODMAN_COMPOSE=1.0.3
MIN_KUBECTL=1.30
MIN_KIND=0.24
MIN_ISTIOCTL=1.30
MIN_HELM=3.12
# File names whose type must be LF by an explicit rule in .gitattributes (git check-attr).
EOL_SAMPLES=(x.sh x.sql x.conf x.lua x.yaml x.yml Dockerfile docker/x/Dockerfile bin/lab
    Makefile x.c x.h x.mjs x.json CMakeLists.txt)

PROBLEMS=0

ok()
{
    printf '  ok        %s\n' "$*"
}

# note WHAT THEN: a finding that stops nothing, with what it means.
note()
{
    printf '  note      %s\n            %s\n' "$1" "$2"
}

# problem WHAT FIX: a finding that stops the chosen way, with its fix.
problem()
{
    printf '  PROBLEM   %s\n            fix: %s\n' "$1" "$2"
    PROBLEMS=$((PROBLEMS + 1))
}

os_kind()
{
    case "$(uname -s)" in
    Darwin) echo macos ;;
    Linux) if command -v apt-get >/dev/null; then echo debian; else echo linux; fi ;;
    *) echo other ;;
    esac
}

# pkg_fix DEBIAN_PACKAGE [BREW_PACKAGE]: the install command for this machine.
pkg_fix()
{
    case "$(os_kind)" in
    debian) echo "sudo apt-get install $1" ;;
    macos) echo "brew install ${2:-$1}" ;;
    *) echo "install ${2:-$1} with your package manager" ;;
    esac
}

# The first x.y[.z] in the text on stdin.
first_version()
{
    grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n 1
}

# version_ge A B: succeeds when version A >= B.
version_ge()
{
    [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

# need_tool NAME MIN FIX COMMAND...: NAME must be on PATH, and when MIN is not "-", the version
# COMMAND prints must be MIN or newer.
need_tool()
{
    local name="$1" min="$2" fix="$3" v
    shift 3
    if ! command -v "$name" >/dev/null; then
        problem "$name: not found" "$fix"
        return 1
    fi
    if [[ $min == - ]]; then
        ok "$name"
        return 0
    fi
    v="$("$@" 2>/dev/null | first_version)"
    if [[ -z $v ]]; then
        problem "$name: cannot tell its version from \`$*\`" "$fix"
        return 1
    fi
    if ! version_ge "$v" "$min"; then
        problem "$name $v is too old: $min or newer is needed" "$fix"
        return 1
    fi
    ok "$name $v ($min or newer)"
}

check_arch()
{
    local arch
    arch="$(uname -m)"
    case $arch in
    x86_64 | amd64 | aarch64 | arm64) ok "architecture $arch" ;;
    *) problem "architecture $arch: the images and packages are built for amd64 and arm64" \
        "use an amd64 or arm64 machine" ;;
    esac
}

# Total memory in MiB (Linux, macOS); empty when unknown.
memory_mb()
{
    if [[ -r /proc/meminfo ]]; then
        awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo
    elif command -v sysctl >/dev/null; then
        echo $(($(sysctl -n hw.memsize 2>/dev/null || echo 0) / 1048576))
    fi
}

# The memory (MiB) way $1 wants: the native stack is ~100 MiB, containers and a cluster far more.
min_memory_mb()
{
    case $1 in
    native) echo 2048 ;;
    compose) echo 4096 ;;
    *) echo 8192 ;;
    esac
}

check_memory()
{
    local want have
    want="$(min_memory_mb "$1")"
    have="$(memory_mb)"
    if [[ -z $have || $have == 0 ]]; then
        ok "memory: cannot tell (want $want MiB)"
    elif ((have < want)); then
        problem "memory: $have MiB, the $1 way wants $want MiB" \
            "close other programs, give Docker Desktop/WSL2 more memory, or use a smaller way"
    else
        ok "memory: $have MiB ($want MiB wanted for $1)"
    fi
}

# Succeeds when something listens on TCP port $1.
port_busy()
{
    if command -v ss >/dev/null; then
        ms_port_busy "$1"
    elif command -v lsof >/dev/null; then
        lsof -nP -iTCP:"$1" -sTCP:LISTEN >/dev/null 2>&1
    else
        return 1
    fi
}

# check_ports HOLDER_RUNNING WHAT VAR=PORT...: each port must be free, unless the shop that
# uses it runs (HOLDER_RUNNING 1).
check_ports()
{
    local running="$1" what="$2" pair var port busy=()
    shift 2
    if ((running)); then
        ok "ports: $what is running and holds its own ports"
        return 0
    fi
    for pair in "$@"; do
        var="${pair%%=*}" port="${pair#*=}"
        if port_busy "$port"; then
            busy+=("$port ($var)")
        fi
    done
    if ((${#busy[@]})); then
        problem "ports in use by another program: ${busy[*]}" \
            "stop that program, or move the port with the variable named"
    else
        ok "ports free: $(printf '%s ' "${@#*=}")"
    fi
}

# The lines of `git ls-files --eol` in DIR for text files with a CR in the index or on disk.
crlf_files()
{
    git -C "$1" ls-files --eol | awk '$3 != "attr/-text" && ($1 ~ /crlf|mixed/ || $2 ~ /crlf|mixed/) {
        sub(/^[^\t]*\t/, ""); print }'
}

# EOL_SAMPLES names whose type .gitattributes in DIR does not make "text eol=lf".
eol_uncovered()
{
    local sample attrs
    for sample in "${EOL_SAMPLES[@]}"; do
        attrs="$(git -C "$1" check-attr text eol -- "$sample" | awk -F': ' '{ print $3 }' | tr '\n' ' ')"
        [[ $attrs == "set lf " ]] || echo "$sample"
    done
}

check_line_endings()
{
    local dir="${1:-$MS_ROOT}" bad uncovered
    if ! git -C "$dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        ok "line endings: $dir is not a git checkout, nothing to check"
        return 0
    fi
    bad="$(crlf_files "$dir")"
    uncovered="$(eol_uncovered "$dir")"
    if [[ -n $bad ]]; then
        problem "CRLF line endings in: $(echo "$bad" | head -n 5 | tr '\n' ' ')" \
            "commit or stash your work, then: git rm -r -q --cached . && git reset --hard"
    fi
    if [[ -n $uncovered ]]; then
        problem "line endings: .gitattributes has no 'text eol=lf' rule for $(echo "$uncovered" |
            tr '\n' ' ')" "add the missing patterns to .gitattributes (see the repository's)"
    fi
    if [[ -z $bad && -z $uncovered ]]; then
        ok "line endings: every tracked text file LF, .gitattributes covers ${#EOL_SAMPLES[@]} types"
    fi
}

# bin/lab and the scripts need bash 4 (macOS ships 3.2) and GNU realpath (-m).
check_shell()
{
    if ((BASH_VERSINFO[0] < 4)); then
        problem "bash $BASH_VERSION is too old for bin/lab: 4 or newer is needed" "$(pkg_fix bash bash)"
    else
        ok "bash $BASH_VERSION"
    fi
    if realpath -m -- /nonexistent/x >/dev/null 2>&1; then
        ok "GNU realpath"
    else
        problem "realpath without -m (not GNU coreutils)" \
            "$(pkg_fix coreutils coreutils), then put its gnubin folder first on PATH"
    fi
}

check_common()
{
    ms_section "every way"
    check_arch
    check_shell
    need_tool curl "$MIN_CURL" "$(pkg_fix curl)" curl --version
    need_tool jq - "$(pkg_fix jq)"
    check_line_endings "$MS_ROOT"
}

check_native()
{
    local running=0 libs=(libmicrohttpd jansson hiredis libpq libcurl) ports=()
    ms_section "native (make up)"
    if [[ "$(os_kind)" != debian ]]; then
        problem "make up needs Debian or Ubuntu (apt, runit); this is $(uname -s)" \
            "use compose (make doctor WAY=compose) or a Debian/Ubuntu VM (WSL2 on Windows)"
        return 0
    fi
    need_tool cmake "$MIN_CMAKE" "$(pkg_fix cmake) (or pip install cmake)" cmake --version
    need_tool cc - "$(pkg_fix build-essential)"
    if need_tool pkg-config - "$(pkg_fix pkg-config)"; then
        if pkg-config --exists "${libs[@]}"; then
            ok "libraries: ${libs[*]}"
        else
            problem "libraries missing for pkg-config: $(for l in "${libs[@]}"; do
                pkg-config --exists "$l" || printf '%s ' "$l"; done)" "bash scripts/install-deps.sh"
        fi
    fi
    if compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || command -v pg_ctl >/dev/null; then
        ok "PostgreSQL server"
    else
        problem "PostgreSQL server: not found" "$(pkg_fix postgresql)"
    fi
    need_tool redis-server - "$(pkg_fix redis-server)"
    PATH="$PATH:/usr/sbin:/sbin" need_tool pgbouncer - "$(pkg_fix pgbouncer)"
    PATH="$PATH:/usr/sbin:/sbin" need_tool nginx - "$(pkg_fix nginx)"
    need_tool node - "$(pkg_fix nodejs)" # make up renders the gateway and Prometheus files with it
    need_tool runsvdir - "$(pkg_fix runit)"
    need_tool ss - "$(pkg_fix iproute2)"
    check_memory native
    ms_runsvdir_pid >/dev/null && running=1
    mapfile -t ports < <(ms_port_vars)
    check_ports "$running" "make up's shop" "${ports[@]}"
}

# The ports docker-compose.yml publishes: "VAR=PORT" for each ${VAR:-PORT}, VAR's value if set.
compose_ports()
{
    local var port
    grep -oE '127\.0\.0\.1:\$\{[A-Z0-9_]+:-[0-9]+\}' "$MS_ROOT/docker-compose.yml" |
        sed -E 's/.*\{([A-Z0-9_]+):-([0-9]+)\}/\1 \2/' | while read -r var port; do
        echo "$var=${!var:-$port}"
    done
}

compose_running()
{
    local engine
    for engine in docker podman; do
        command -v "$engine" >/dev/null || continue
        "$engine" ps -q --filter label=com.docker.compose.project=microshop 2>/dev/null | grep -q . &&
            return 0
        "$engine" ps -q --filter label=io.podman.compose.project=microshop 2>/dev/null | grep -q . &&
            return 0
    done
    return 1
}

check_compose_tool()
{
    if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
        need_tool docker "$MIN_DOCKER_COMPOSE" "update Docker (Desktop) to get compose v2" \
            docker compose version
    elif command -v podman >/dev/null; then
        need_tool podman "$MIN_PODMAN" "$(pkg_fix podman)" podman --version
        # podman-compose 1.0 prints podman's version first: take the line naming itself.
        need_tool podman-compose "$MIN_PODMAN_COMPOSE" "$(pkg_fix podman-compose)" \
            bash -c 'podman-compose --version 2>&1 | grep -i "compose.* version"'
    else
        problem "no container engine: neither docker (with compose) nor podman" \
            "install Docker Desktop (macOS, Windows) or $(pkg_fix 'docker.io docker-compose-v2')"
    fi
}

# Whether the images compose runs are all on this machine (an instructor's bundle loaded, or
# make images): then `scripts/images.sh up` starts the shop with no build and no download.
# Missing images stop nothing (compose builds and pulls them, on a network). Fails when some
# are missing. scripts/images.sh needs bash 4, GNU realpath (check_shell names both) and an
# engine; without them, nothing to say.
check_bundle()
{
    local lost n
    ((BASH_VERSINFO[0] >= 4)) || return 0
    realpath -m -- /nonexistent/x >/dev/null 2>&1 || return 0
    command -v docker >/dev/null || command -v podman >/dev/null || return 0
    n="$(bash "$MS_ROOT/scripts/images.sh" list | wc -l)"
    if lost="$(bash "$MS_ROOT/scripts/images.sh" missing 2>&1)"; then
        ok "images: all $n here (a loaded bundle): scripts/images.sh up needs no build, no network"
        return 0
    fi
    note "images: $(wc -l <<<"$lost") of $n not here: $(paste -sd ' ' <<<"$lost")" \
        "load the class bundle (scripts/images.sh load microshop-images.tar), or let \`docker compose up -d --build\` build and download them (a network for every laptop)"
    return 1
}

check_compose()
{
    local running=0 ports=() line
    ms_section "compose (docker compose up)"
    check_compose_tool
    check_memory compose
    compose_running && running=1
    # no mapfile: this part runs under macOS's bash 3.2 too, to say that bash is too old
    while IFS= read -r line; do ports+=("$line"); done < <(compose_ports)
    check_ports "$running" "the compose project microshop" "${ports[@]}"
    check_bundle || true
}

check_kubernetes()
{
    local running=0
    ms_section "kubernetes (KIND with Istio)"
    need_tool kubectl "$MIN_KUBECTL" "brew install kubectl, or see https://kubernetes.io/docs/tasks/tools/" \
        kubectl version --client
    need_tool kind "$MIN_KIND" "go install sigs.k8s.io/kind@latest, or brew install kind" kind version
    need_tool istioctl "$MIN_ISTIOCTL" "curl -L https://istio.io/downloadIstio | sh -" \
        istioctl version --remote=false
    need_tool helm "$MIN_HELM" "brew install helm, or see https://helm.sh/docs/intro/install/" \
        helm version --short
    if ! command -v docker >/dev/null && ! command -v podman >/dev/null; then
        problem "kind needs docker or podman: neither found" "install Docker Desktop or $(pkg_fix podman)"
    fi
    check_memory kubernetes
    command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx microshop && running=1
    check_ports "$running" "the KIND cluster microshop" "KIND_HOST_PORT=8080"
}

main()
{
    local way="${1:-}"
    if [[ $way == line-endings ]]; then
        check_line_endings "${2:-$MS_ROOT}"
        return $((PROBLEMS > 0))
    fi
    if [[ $way == bundle ]]; then
        check_bundle
        return
    fi
    [[ -n $way ]] || way="$([[ "$(os_kind)" == debian ]] && echo native || echo compose)"
    case $way in
    native | compose | kubernetes) ;;
    all) way="native compose kubernetes" ;;
    *)
        echo "usage: scripts/doctor.sh [native|compose|kubernetes|all|line-endings [DIR]|bundle]" >&2
        return 2
        ;;
    esac
    check_common
    local w
    for w in $way; do
        "check_$w"
    done
    echo
    if ((PROBLEMS)); then
        echo "doctor: $PROBLEMS problem(s) to fix for: $way"
        return 1
    fi
    echo "doctor: this machine has what $way needs"
}

main "$@"
