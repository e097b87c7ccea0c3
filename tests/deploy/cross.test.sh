#!/usr/bin/env bash
# Multi-arch images by cross-compiling: the Dockerfile's build stage, run on this (amd64) machine
# for linux/arm64 (`scripts/images.sh compile`, the path `MS_PLATFORMS=... make images` takes
# with podman), must produce aarch64 binaries of every service, the gateway's exporter and the
# healthcheck probe, linked against the arm64 libraries of Debian's multiarch -dev packages,
# with Debian's cross gcc and cmake/linux-gnu-toolchain.cmake: no emulation (this machine has
# no QEMU binfmt; an emulated build would fail here). Planted: the architecture check rejects
# an amd64 binary, and the toolchain file refuses a missing or unknown MS_TRIPLET.
# Live: rootful podman (docker/ci/podman-setup.sh). Cold: about 1.5 min (the cross packages
# from Debian's mirror and the compile); warm (layers cached): seconds.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
T="$(mktemp -d /tmp/ms-cross.XXXXXX)"
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/system/lib/expect.sh
. "$ROOT/tests/system/lib/expect.sh"

# Every binary the images hold: one per service, the exporter, the probe.
BINARIES=(product cart order user inventory notification frontend gateway-metrics healthcheck)

# elf_is FILE MACHINE INTERPRETER: FILE is an ELF executable for MACHINE (readelf's name)
# that loads with INTERPRETER.
elf_is()
{
    local machine interp
    machine="$(readelf -h "$1" 2>/dev/null | sed -nE 's/^ *Machine: *//p')"
    interp="$(readelf -l "$1" 2>/dev/null | sed -nE 's/.*Requesting program interpreter: ([^]]*)].*/\1/p')"
    [[ $machine == "$2" && $interp == "$3" ]]
}

ARM64=(AArch64 /lib/ld-linux-aarch64.so.1)

echo "== the toolchain file's inputs"
expect 1 'set MS_TRIPLET' env -u MS_TRIPLET cmake -S "$ROOT" -B "$T/no-triplet" -DMS_TESTS=OFF \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-gnu-toolchain.cmake"
expect 1 'unknown MS_TRIPLET mips-linux-gnu' env MS_TRIPLET=mips-linux-gnu cmake -S "$ROOT" \
    -B "$T/mips" -DMS_TESTS=OFF -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-gnu-toolchain.cmake"
echo "ok: planted: the toolchain file refuses a missing MS_TRIPLET and an unknown one"

echo "== the architecture check itself"
host_bin="$(command -v readelf)"
if elf_is "$host_bin" "${ARM64[@]}"; then
    fail "planted: $host_bin (this machine's) passed as aarch64"
fi
[[ "$(uname -m)" == x86_64 ]] || fail "this test proves a cross build from amd64; this is $(uname -m)"
elf_is "$host_bin" "Advanced Micro Devices X86-64" /lib64/ld-linux-x86-64.so.2 ||
    fail "the check does not recognise this machine's own $host_bin"
echo "ok: planted: an amd64 binary is not taken for aarch64"

echo "== the build stage for linux/arm64 on this amd64 machine"
((EUID == 0)) || fail "run as root: rootful podman (see /work/shared/CONTAINERS.md)"
command -v podman >/dev/null || fail "podman is missing (scripts/install-deps.sh)"
timeout 600 bash "$ROOT/docker/ci/podman-setup.sh" || fail "docker/ci/podman-setup.sh"
start=$SECONDS
if ! MS_ENGINE=podman timeout 1200 bash "$ROOT/scripts/images.sh" compile linux/arm64 "$T/arm64" \
    >"$T/compile.log" 2>&1; then
    tail -n 40 "$T/compile.log" >&2
    fail "scripts/images.sh compile linux/arm64"
fi
echo "ok: compiled for linux/arm64 in $((SECONDS - start)) s: $(tail -n 1 "$T/compile.log")"
for b in "${BINARIES[@]}"; do
    [[ -f $T/arm64/$b ]] || fail "no $b in the arm64 build stage's /out"
    elf_is "$T/arm64/$b" "${ARM64[@]}" ||
        fail "$b is not an aarch64 executable: $(readelf -h "$T/arm64/$b" | grep Machine)"
done
echo "ok: ${#BINARIES[@]} binaries, each an aarch64 executable loading /lib/ld-linux-aarch64.so.1"
needed="$(readelf -d "$T/arm64/product" | sed -nE 's/.*Shared library: \[(.*)\]/\1/p' | sort | tr '\n' ' ')"
for lib in libmicrohttpd.so.12 libjansson.so.4 libhiredis.so.0.14 libpq.so.5; do
    [[ " $needed " == *" $lib "* ]] || fail "product does not link $lib: $needed"
done
# The runtime image installs these sonames for the target (Dockerfile, runtime stage).
echo "ok: product links the arm64 libraries the runtime image carries: $needed"
echo "all cross-build checks passed"
