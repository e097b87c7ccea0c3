#!/usr/bin/env bash
# Multi-arch images by cross-compiling: the Dockerfile's build stage, run on this machine for
# the other architecture (linux/arm64 on amd64, as CI runs it; linux/amd64 on arm64) through
# `scripts/images.sh compile` (the path `MS_PLATFORMS=... make images` takes with podman), must
# produce that architecture's binaries of every service, the gateway's exporter and the
# healthcheck probe, linked against the target's libraries of Debian's multiarch -dev packages,
# with Debian's cross gcc and cmake/linux-gnu-toolchain.cmake: no emulation (this machine has
# no QEMU binfmt; an emulated build would fail here). Statically: the Dockerfile's build stage is
# FROM --platform=$BUILDPLATFORM with ARG TARGETARCH and no other stage has a --platform.
# Planted: a build stage on the target's platform and a runtime stage on the builder's are
# caught, the architecture check rejects this machine's own binary, and the toolchain file
# refuses a missing or unknown MS_TRIPLET.
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

# The other architecture than this machine's: its platform, and readelf's name and the loader of
# its executables; OWN: this machine's.
AMD64=(linux/amd64 "Advanced Micro Devices X86-64" /lib64/ld-linux-x86-64.so.2)
ARM64=(linux/arm64 AArch64 /lib/ld-linux-aarch64.so.1)
choose_architectures()
{
    case "$(uname -m)" in
    x86_64) OWN=("${AMD64[@]}") OTHER=("${ARM64[@]}") ;;
    aarch64) OWN=("${ARM64[@]}") OTHER=("${AMD64[@]}") ;;
    *) fail "this test cross-builds between amd64 and arm64; this is $(uname -m)" ;;
    esac
    PLATFORM="${OTHER[0]}"
}

# dockerfile_cross_ok FILE: the build stage runs on the builder's platform and reads TARGETARCH;
# every other stage is the target's (no --platform of its own).
# shellcheck disable=SC2016 # the Dockerfile's own $VARIABLES, literally
dockerfile_cross_ok()
{
    grep -qxF 'FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS build' "$1" &&
        sed -n '/ AS build$/,/^FROM /p' "$1" | grep -qx 'ARG TARGETARCH' &&
        ! grep -E '^FROM ' "$1" | grep -v ' AS build$' | grep -q -- '--platform'
}

# The Dockerfile: the build stage on the builder's platform, the others the target's; planted: a
# build stage on the target's platform and a runtime stage on the builder's.
dockerfile_checks()
{
    local f
    echo "== the Dockerfile: the build stage on the builder's platform, the others the target's"
    dockerfile_cross_ok "$ROOT/Dockerfile" || fail "Dockerfile: the build stage is not FROM --platform=\$BUILDPLATFORM with ARG TARGETARCH, or another stage has a --platform"
    # shellcheck disable=SC2016 # the Dockerfile's own $VARIABLES, literally
    sed 's/^FROM --platform=$BUILDPLATFORM /FROM /' "$ROOT/Dockerfile" >"$T/Dockerfile.native"
    # shellcheck disable=SC2016 # the same
    sed 's/^FROM ${DEBIAN_IMAGE} AS runtime$/FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS runtime/' \
        "$ROOT/Dockerfile" >"$T/Dockerfile.runtime"
    for f in native runtime; do
        cmp -s "$ROOT/Dockerfile" "$T/Dockerfile.$f" && fail "planted $f: the edit did not apply"
        if dockerfile_cross_ok "$T/Dockerfile.$f"; then
            fail "planted: a Dockerfile with the $f stage on the wrong platform passed"
        fi
    done
    echo "ok: Dockerfile: build stage FROM --platform=\$BUILDPLATFORM, ARG TARGETARCH; planted: a build stage on the target's platform and a runtime stage on the builder's are caught"
}

# The toolchain file refuses a missing MS_TRIPLET and an unknown one; the architecture check
# rejects this machine's own binary.
input_checks()
{
    local host_bin
    echo "== the toolchain file's inputs"
    expect 1 'set MS_TRIPLET' env -u MS_TRIPLET cmake -S "$ROOT" -B "$T/no-triplet" -DMS_TESTS=OFF \
        -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-gnu-toolchain.cmake"
    expect 1 'unknown MS_TRIPLET mips-linux-gnu' env MS_TRIPLET=mips-linux-gnu cmake -S "$ROOT" \
        -B "$T/mips" -DMS_TESTS=OFF -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/linux-gnu-toolchain.cmake"
    echo "ok: planted: the toolchain file refuses a missing MS_TRIPLET and an unknown one"

    echo "== the architecture check itself"
    host_bin="$(command -v readelf)"
    if elf_is "$host_bin" "${OTHER[@]:1}"; then
        fail "planted: $host_bin (this machine's) passed as ${OTHER[1]}"
    fi
    elf_is "$host_bin" "${OWN[@]:1}" || fail "the check does not recognise this machine's own $host_bin"
    echo "ok: planted: this machine's own binary is not taken for ${OTHER[1]}"
}

# The build stage for the other platform, through scripts/images.sh compile, into $T/binaries.
compile_other()
{
    local start
    echo "== the build stage for $PLATFORM on this ${OWN[0]} machine"
    ((EUID == 0)) || fail "run as root: rootful podman (see /work/shared/CONTAINERS.md)"
    command -v podman >/dev/null || fail "podman is missing (scripts/install-deps.sh)"
    timeout 600 bash "$ROOT/docker/ci/podman-setup.sh" || fail "docker/ci/podman-setup.sh"
    start=$SECONDS
    if ! MS_ENGINE=podman timeout 1200 bash "$ROOT/scripts/images.sh" compile "$PLATFORM" "$T/binaries" \
        >"$T/compile.log" 2>&1; then
        tail -n 40 "$T/compile.log" >&2
        fail "scripts/images.sh compile $PLATFORM"
    fi
    echo "ok: compiled for $PLATFORM in $((SECONDS - start)) s: $(tail -n 1 "$T/compile.log")"
}

# Every binary is the other architecture's executable, linked against the libraries the runtime
# image installs for the target (Dockerfile, runtime stage).
binary_checks()
{
    local b needed lib
    for b in "${BINARIES[@]}"; do
        [[ -f $T/binaries/$b ]] || fail "no $b in the $PLATFORM build stage's /out"
        elf_is "$T/binaries/$b" "${OTHER[@]:1}" ||
            fail "$b is not a ${OTHER[1]} executable: $(readelf -h "$T/binaries/$b" | grep Machine)"
    done
    echo "ok: ${#BINARIES[@]} binaries, each a ${OTHER[1]} executable loading ${OTHER[2]}"
    needed="$(readelf -d "$T/binaries/product" | sed -nE 's/.*Shared library: \[(.*)\]/\1/p' | sort | tr '\n' ' ')"
    for lib in libmicrohttpd.so.12 libjansson.so.4 libhiredis.so.0.14 libpq.so.5; do
        [[ " $needed " == *" $lib "* ]] || fail "product does not link $lib: $needed"
    done
    echo "ok: product links the $PLATFORM libraries the runtime image carries: $needed"
}

OWN=() OTHER=() PLATFORM=""
choose_architectures
dockerfile_checks
input_checks
compile_other
binary_checks
echo "all cross-build checks passed"
