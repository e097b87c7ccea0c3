#!/usr/bin/env bash
# Installs the Debian packages of one use of the suite: only the missing ones, so a second run
# does nothing (and needs no root). Starts no service.
#
#   scripts/install-deps.sh run     what `make up` needs: build the services, run them, the
#                                   stores, the gateway, the supervisor, Prometheus, the labs'
#                                   curl and jq, wrk for `make load`, node (the gateway's and
#                                   Prometheus's configuration, tools/generate); no npm
#   scripts/install-deps.sh bench   run, plus valgrind (`make bench`)
#   scripts/install-deps.sh test    everything (the default; `make test`, CI): run and bench,
#                                   the linters, podman, chromium, and the tests' npm modules
set -euo pipefail

# Every package the suite needs from Debian, by use: add new packages here.
RUN_PACKAGES=(
    build-essential cmake pkg-config
    libmicrohttpd-dev libjansson-dev libhiredis-dev libpq-dev libcurl4-openssl-dev check
    libunistring-dev
    postgresql redis-server pgbouncer curl procps iproute2 nginx runit jq wrk prometheus nodejs
)
BENCH_PACKAGES=(valgrind)
TEST_PACKAGES=(
    git clang-format clang-tidy cppcheck shellcheck shfmt yamllint
    podman podman-compose runc debootstrap netavark aardvark-dns iptables chromium
)

USE="${1:-test}"
case $USE in
run) PACKAGES=("${RUN_PACKAGES[@]}") ;;
bench) PACKAGES=("${RUN_PACKAGES[@]}" "${BENCH_PACKAGES[@]}") ;;
test) PACKAGES=("${RUN_PACKAGES[@]}" "${BENCH_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
*)
    echo "usage: scripts/install-deps.sh [run|bench|test]" >&2
    exit 2
    ;;
esac

# Prints the PACKAGES dpkg does not have installed.
missing_packages()
{
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        if [[ $status != installed ]]; then
            echo "$pkg"
        fi
    done
}
missing=()
mapfile -t missing < <(missing_packages)

# The npm packages of the tests (for `test` only: running the shop needs no npm), each folder
# pinned by its package-lock.json and installed again only when the lock file changed:
# tests/deploy (the offline validators: Kubernetes models, JSON Schema) and tests/system/browser
# (playwright-core, driving Debian's chromium).
npm_tools()
{
    local dir
    [[ $USE == test ]] || return 0
    if ! command -v npm >/dev/null; then
        echo "error: npm is missing (Node.js 20 or newer is needed for tests/deploy)" >&2
        exit 1
    fi
    for dir in "$ROOT/tests/deploy" "$ROOT/tests/system/browser"; do
        if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
            echo "install-deps: npm ci in ${dir#"$ROOT"/}"
            npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
        fi
    done
}
ROOT="$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages for $USE already installed"
    npm_tools
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        echo "error: not root and no sudo; install as root: ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "install-deps ($USE): installing ${missing[*]}"
# Packages like nginx, postgresql and redis-server start their own daemon on installation (on
# ports 80, 5432, 6379). The suite runs its own servers on its own ports, so installing must
# start nothing: Debian's policy-rc.d hook says no while we install, if no policy exists yet.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    own_policy=1
fi
# sudo drops the environment, so the frontend is passed through env.
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0)
"${apt_get[@]}" update
"${apt_get[@]}" install -y --no-install-recommends "${missing[@]}"
if ((own_policy)); then
    "${sudo[@]}" rm -f "$policy"
fi
npm_tools
