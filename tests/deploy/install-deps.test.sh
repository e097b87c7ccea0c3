#!/usr/bin/env bash
# scripts/install-deps.sh by use: `run` (make up) holds only what running the shop needs (node
# included: tools/generate/render.mjs writes the gateway's configuration) and never stops for a
# missing npm; `bench` adds valgrind; `test` (make test, CI) is everything and
# still needs npm for the tests' modules. Nothing is installed here: every package is present on
# this machine, and npm is hidden by a PATH that lacks it.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
T="$(mktemp -d /tmp/ms-install-deps.XXXXXX)"
trap 'rm -rf "$T"' EXIT

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

# packages FILE USE: the package list of one use, as the script FILE computes it.
packages()
{
    bash -c 'f="$1"; shift; source <(sed -n "/^RUN_PACKAGES=(/,/^esac/p" "$f")
        printf "%s\n" "${PACKAGES[@]}"' _ "$1" "$2"
}

# check_sets FILE: make up's set holds what running needs and none of the test tools, and the
# test set holds all of it.
check_sets()
{
    local run=() all=() pkg
    mapfile -t run < <(packages "$1" run)
    mapfile -t all < <(packages "$1" test)
    ((${#run[@]} > 10 && ${#all[@]} > ${#run[@]})) || fail "package lists: run ${#run[@]}, test ${#all[@]}"
    for pkg in chromium podman valgrind clang-tidy shellcheck yamllint npm; do
        [[ " ${run[*]} " != *" $pkg "* ]] || fail "make up's set installs $pkg, which only the tests need"
    done
    for pkg in postgresql redis-server pgbouncer nginx runit cmake libmicrohttpd-dev curl jq nodejs; do
        [[ " ${run[*]} " == *" $pkg "* ]] || fail "make up's set lacks $pkg"
    done
    for pkg in "${run[@]}"; do
        [[ " ${all[*]} " == *" $pkg "* ]] || fail "the test set lacks $pkg of the run set"
    done
    echo "ok: make up installs ${#run[@]} packages, make test ${#all[@]}; no chromium, podman, valgrind or npm for make up"
}

check_sets "$ROOT/scripts/install-deps.sh"
sed 's/^\(    postgresql redis-server\)/\1 chromium/' "$ROOT/scripts/install-deps.sh" >"$T/planted.sh"
if (check_sets "$T/planted.sh") >"$T/planted.log" 2>&1; then
    fail "the check accepted chromium in make up's set"
fi
grep -q 'installs chromium' "$T/planted.log" || fail "planted: $(cat "$T/planted.log")"
echo "ok: planted: chromium in make up's set is caught"

# A PATH with what the script calls, but no npm.
mkdir -p "$T/bin"
for tool in dirname dpkg-query; do
    ln -s "$(command -v "$tool")" "$T/bin/$tool"
done
out="$(PATH="$T/bin" "$BASH" "$ROOT/scripts/install-deps.sh" run 2>&1)" || fail "run without npm: $out"
[[ $out == *"packages for run already installed"* && $out != *npm* ]] || fail "run without npm said: $out"
echo "ok: install-deps.sh run succeeds with no npm on PATH"
if out="$(PATH="$T/bin" "$BASH" "$ROOT/scripts/install-deps.sh" test 2>&1)"; then
    fail "install-deps.sh test succeeded without npm: $out"
fi
[[ $out == *"npm is missing"* ]] || fail "test without npm said: $out"
echo "ok: install-deps.sh test names the missing npm"
if PATH="$T/bin" "$BASH" "$ROOT/scripts/install-deps.sh" everything >/dev/null 2>&1; then
    fail "an unknown use was accepted"
fi
grep -q 'install-deps.sh" run$' "$ROOT/scripts/up.sh" || fail "scripts/up.sh does not install the run set"
echo "ok: an unknown use is refused; make up asks for the run set"
