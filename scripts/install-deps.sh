#!/usr/bin/env bash
# Installs the Debian packages the suite needs to build, run, lint and test: only the missing ones,
# so a second run does nothing. Starts no service.
set -euo pipefail

# Everything the suite needs from Debian, one place: add new packages here.
PACKAGES=(
    build-essential cmake pkg-config git
    libmicrohttpd-dev libjansson-dev libhiredis-dev libpq-dev libcurl4-openssl-dev check
    libunistring-dev
    postgresql redis-server curl procps iproute2
    clang-format clang-tidy cppcheck shellcheck
    nginx prometheus yamllint
    podman podman-compose runc debootstrap netavark aardvark-dns iptables
    runit wrk chromium valgrind jq
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [[ $status != installed ]]; then
        missing+=("$pkg")
    fi
done

# The npm packages of the tests, each folder pinned by its package-lock.json and installed again
# only when the lock file changed: tests/deploy (the offline validators: Kubernetes models, JSON
# Schema) and tests/system/browser (playwright-core, driving Debian's chromium).
npm_tools()
{
    local dir
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
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
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

echo "install-deps: installing ${missing[*]}"
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
