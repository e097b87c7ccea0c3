#!/usr/bin/env bash
# `make images` and `make bundle`: the shop's container images, for a class that should not
# compile or download on conference Wi-Fi. Every name comes from docker-compose.yml: its
# `build:` services are ours (one Dockerfile target each), the rest are the images it pulls.
#
#   scripts/images.sh list            the images: "ours TARGET NAME" and "theirs NAME" lines
#   scripts/images.sh build           build ours with docker or podman (make images), named
#                                     $MS_REGISTRY/<target>:$MS_TAG; MS_PUSH=1 pushes them too
#   scripts/images.sh bundle [FILE]   save ours and theirs into one archive (make bundle;
#                                     default microshop-images.tar) for a USB stick
#   scripts/images.sh load FILE       on an attendee's machine: load the archive; then
#                                     `docker compose up -d --no-build` needs no network
#
# MS_REGISTRY (default localhost/microshop) is the prefix docker-compose.yml reads too, so an
# instructor can build, push to a class registry and have compose pull from there. MS_ENGINE
# picks docker or podman (default: docker when it answers). MS_PLATFORMS=linux/amd64,linux/arm64
# builds one multi-arch image per target with docker buildx and pushes it (a multi-arch image
# lives only in a registry); the Dockerfile compiles for the target platform, so on a builder of
# another architecture buildx emulates it (QEMU): slow, but the result is the same.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

REGISTRY="${MS_REGISTRY:-localhost/microshop}"
TAG="${MS_TAG:-latest}"
COMPOSE_FILE="$MS_ROOT/docker-compose.yml"

engine()
{
    if [[ -n ${MS_ENGINE:-} ]]; then
        echo "$MS_ENGINE"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null; then
        echo podman
    else
        ms_die "neither docker nor podman is available (make doctor WAY=compose)"
    fi
}

# The images of docker-compose.yml: "ours TARGET NAME" for a service with a build target (once
# per target), "theirs NAME" for a pulled image. Ours are named with MS_REGISTRY and MS_TAG.
list()
{
    awk -v reg="$REGISTRY" -v tag="$TAG" '
        /^  [a-z0-9-]+:$/ { flush(); image = ""; target = "" }
        /^    image: / { image = $2 }
        /^    build: .*target: / { t = $0; sub(/.*target: */, "", t); sub(/[} ].*/, "", t); target = t }
        function flush() {
            if (target != "" && !(target in seen)) { seen[target] = 1; print "ours", target, reg "/" target ":" tag }
            else if (target == "" && image != "" && !(image in seen)) { seen[image] = 1; print "theirs", image }
        }
        END { flush() }' "$COMPOSE_FILE"
}

build_one()
{
    local eng="$1" target="$2" name="$3" args=()
    [[ $eng == podman ]] && args+=(--format docker)
    if [[ -n ${MS_PLATFORMS:-} ]]; then
        docker buildx build --platform "$MS_PLATFORMS" --target "$target" -t "$name" --push "$MS_ROOT"
        return
    fi
    "$eng" build -q "${args[@]}" --target "$target" -t "$name" "$MS_ROOT" >/dev/null
    if [[ ${MS_PUSH:-0} == 1 ]]; then
        "$eng" push "$name" >/dev/null
    fi
}

build()
{
    local eng kind target name n=0
    eng="$(engine)"
    [[ -z ${MS_PLATFORMS:-} || $eng == docker ]] || ms_die "MS_PLATFORMS needs docker buildx"
    while read -r kind target name; do
        [[ $kind == ours ]] || continue
        echo "images: building $name (target $target)"
        build_one "$eng" "$target" "$name" || ms_die "building $name failed"
        n=$((n + 1))
    done < <(list)
    echo "images: $n built$([[ ${MS_PUSH:-0} == 1 || -n ${MS_PLATFORMS:-} ]] && echo " and pushed")"
}

bundle()
{
    local file="${1:-microshop-images.tar}" eng kind a b names=()
    eng="$(engine)"
    while read -r kind a b; do
        if [[ $kind == ours ]]; then names+=("$b"); else names+=("$a"); fi
    done < <(list)
    for a in "${names[@]}"; do
        "$eng" image inspect "$a" >/dev/null 2>&1 && continue
        [[ $a == "$REGISTRY"/* ]] && ms_die "$a is not built: make images first"
        echo "bundle: pulling $a"
        "$eng" pull -q "$a" >/dev/null || ms_die "cannot pull $a"
    done
    if [[ $eng == podman ]]; then
        podman save -q -m -o "$file" "${names[@]}"
    else
        "$eng" save -o "$file" "${names[@]}"
    fi
    echo "bundle: ${#names[@]} images in $file ($(du -h "$file" | cut -f1)): ${names[*]}"
}

load()
{
    [[ -f ${1:-} ]] || ms_die "usage: scripts/images.sh load FILE"
    "$(engine)" load -i "$1"
}

case "${1:-}" in
list) list ;;
build) build ;;
bundle) bundle "${2:-}" ;;
load) load "${2:-}" ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
