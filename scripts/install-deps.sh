#!/usr/bin/env bash
# Installs the Debian packages the suite needs to build, run, lint and test: only the missing ones,
# so a second run does nothing. Starts no service.
set -euo pipefail

# Everything the suite needs from Debian, one place: add new packages here.
PACKAGES=(
    build-essential cmake pkg-config git
    libmicrohttpd-dev libjansson-dev libhiredis-dev libpq-dev libcurl4-openssl-dev check
    postgresql redis-server curl procps iproute2
    clang-format clang-tidy cppcheck shellcheck
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    if [[ $status != installed ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
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
# sudo drops the environment, so the frontend is passed through env.
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Dpkg::Use-Pty=0)
"${apt_get[@]}" update
"${apt_get[@]}" install -y --no-install-recommends "${missing[@]}"
