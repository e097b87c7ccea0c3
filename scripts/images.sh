#!/usr/bin/env bash
# `make images` and `make bundle`: the shop's container images, for a class that should not
# compile or download on conference Wi-Fi. Every name comes from the compose files: a service
# with a `build:` target of the Dockerfile is ours, every other image is theirs (pulled).
#
#   scripts/images.sh list [SERVICE...]    the images: "ours TARGET NAME" and "theirs NAME" lines
#   scripts/images.sh build                build ours with docker or podman (make images), named
#                                          $MS_REGISTRY/<target>:$MS_TAG; MS_PUSH=1 pushes them too
#   scripts/images.sh bundle [FILE] [SERVICE...]
#                                          save ours and theirs (pulled when missing) into one
#                                          archive (make bundle; default microshop-images.tar,
#                                          FILE.gz compresses) and FILE.sha256 beside it
#   scripts/images.sh load FILE [SERVICE...]
#                                          on an attendee's machine: check and load the archive,
#                                          then say whether every image is there
#   scripts/images.sh missing [SERVICE...] the images not on this machine (exit 1 when any)
#   scripts/images.sh up [SERVICE...]      compose up from the loaded images: no build, no pull
#   scripts/images.sh no-pull              the compose override `up` adds: pull_policy: never
#                                          for every service
#   scripts/images.sh compile PLATFORM DIR only the Dockerfile's build stage for PLATFORM
#                                          (linux/arm64 ...), its binaries copied into DIR
#
# MS_REGISTRY (default localhost/microshop) is the prefix docker-compose.yml reads too, so an
# instructor can build, push to a class registry and have compose pull from there. MS_ENGINE
# picks docker or podman (default: docker when it answers). MS_COMPOSE_FILES (default
# docker-compose.yml; later files override a service's image, as compose merges them) names the
# compose files; MS_COMPOSE is the whole compose command for `up` (default: docker compose or
# podman-compose on those files, project MS_COMPOSE_PROJECT, default microshop, as bin/lab).
#
# MS_PLATFORMS=linux/amd64,linux/arm64 builds one multi-arch image per target: with docker
# buildx, pushed (a multi-arch image lives in a registry); with podman, a local manifest list
# (`podman manifest push --all` with MS_PUSH=1). The Dockerfile's build stage runs on the
# builder's platform and cross-compiles for each target platform (cmake/linux-gnu-toolchain.cmake),
# so the compiling is never emulated; only the runtime stage's package installation runs as the
# target platform (QEMU binfmt, built into Docker Desktop).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

REGISTRY="${MS_REGISTRY:-localhost/microshop}"
TAG="${MS_TAG:-latest}"
read -r -a COMPOSE_FILES <<<"${MS_COMPOSE_FILES:-docker-compose.yml}"

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

# The compose files as paths (relative ones are the repository's).
compose_paths()
{
    local f
    for f in "${COMPOSE_FILES[@]}"; do
        [[ $f == /* ]] && echo "$f" || echo "$MS_ROOT/$f"
    done
}

# "SERVICE IMAGE TARGET" per service of the merged compose files (TARGET "-" when the service
# builds no Dockerfile target of ours): a later file's image or build replaces an earlier one's.
services()
{
    local files=()
    mapfile -t files < <(compose_paths)
    awk '
        FNR == 1 { on = 0 }
        /^services:/ { on = 1; next }
        /^[^ #]/ { on = 0 }
        on && /^  [a-z0-9-]+:$/ { svc = substr($1, 1, length($1) - 1); if (!(svc in image)) order[++n] = svc; image[svc] = image[svc] ""; next }
        on && /^    image: / { image[svc] = $2 }
        on && /^    build: / { t = "-"; if ($0 ~ /target: /) { t = $0; sub(/.*target: */, "", t); sub(/[} ].*/, "", t) } target[svc] = t }
        END { for (i = 1; i <= n; i++) { s = order[i]; print s, (image[s] == "" ? "-" : image[s]), (target[s] == "" ? "-" : target[s]) } }
    ' "${files[@]}"
}

# The images of the named services (all when none): "ours TARGET NAME" once per target, named
# with MS_REGISTRY and MS_TAG; "theirs NAME" once per pulled (or stand-in) image.
list()
{
    local want=" $* "
    services | awk -v reg="$REGISTRY" -v tag="$TAG" -v want="$want" '
        want != "  " && index(want, " " $1 " ") == 0 { next }
        $3 != "-" { if (!seen[$3]++) print "ours", $3, reg "/" $3 ":" tag; next }
        $2 != "-" { if (!seen[$2]++) print "theirs", $2 }'
}

# The image names alone, one a line.
names()
{
    list "$@" | awk '{ print $NF }'
}

# The platform the engine runs on, linux/<arch>.
build_platform()
{
    local arch
    arch="$("$1" info --format '{{.Host.Arch}}' 2>/dev/null)" || arch="$(uname -m)"
    case "$arch" in
    x86_64 | amd64) echo linux/amd64 ;;
    aarch64 | arm64) echo linux/arm64 ;;
    *) echo "linux/$arch" ;;
    esac
}

# build_args ENGINE PLATFORMS: podman build's arguments for a build targeting PLATFORMS. Podman 4.3
# (buildah 1.28) sets $BUILDPLATFORM to the target platform, so `FROM --platform=$BUILDPLATFORM`
# would want a base image of the target's architecture: the builder's platform is given here.
build_args()
{
    echo "--platform=$2"
    echo "--build-arg=BUILDPLATFORM=$(build_platform "$1")"
}

build_one()
{
    local eng="$1" target="$2" name="$3" args=()
    [[ $eng == podman ]] && args+=(--format docker)
    if [[ -n ${MS_PLATFORMS:-} && $eng == podman ]]; then
        mapfile -t -O ${#args[@]} args < <(build_args "$eng" "$MS_PLATFORMS")
        "$eng" manifest rm "$name" >/dev/null 2>&1 || true
        "$eng" build -q "${args[@]}" --manifest "$name" --target "$target" "$MS_ROOT" >/dev/null
        if [[ ${MS_PUSH:-0} == 1 ]]; then
            "$eng" manifest push --all "$name" "docker://$name" >/dev/null
        fi
        return
    fi
    if [[ -n ${MS_PLATFORMS:-} ]]; then
        "$eng" buildx build --platform "$MS_PLATFORMS" --target "$target" -t "$name" --push "$MS_ROOT"
        return
    fi
    "$eng" build -q "${args[@]}" --target "$target" -t "$name" "$MS_ROOT" >/dev/null
    if [[ ${MS_PUSH:-0} == 1 ]]; then
        "$eng" push "$name" >/dev/null
    fi
}

build()
{
    local eng kind target name n=0 pushed=0
    eng="$(engine)"
    while read -r kind target name; do
        [[ $kind == ours ]] || continue
        echo "images: building $name (target $target${MS_PLATFORMS:+, $MS_PLATFORMS})"
        build_one "$eng" "$target" "$name" || ms_die "building $name failed"
        n=$((n + 1))
    done < <(list)
    [[ ${MS_PUSH:-0} == 1 || (-n ${MS_PLATFORMS:-} && $eng != podman) ]] && pushed=1
    echo "images: $n built$( ((pushed)) && echo " and pushed")"
}

# compile PLATFORM DIR: the build stage alone for PLATFORM, its /out (every binary) into DIR.
compile()
{
    local platform="$1" dir="$2" eng args=() image="localhost/microshop-compile:${1//\//-}" c
    [[ -n $platform && -n $dir ]] || ms_die "usage: scripts/images.sh compile PLATFORM DIR"
    eng="$(engine)"
    if [[ $eng == podman ]]; then
        mapfile -t args < <(build_args "$eng" "$platform")
    else
        args=(--platform "$platform")
    fi
    "$eng" build -q "${args[@]}" --target build -t "$image" "$MS_ROOT" >/dev/null ||
        ms_die "the build stage for $platform failed"
    mkdir -p "$dir"
    c="$("$eng" create "$image" true)"
    "$eng" cp "$c:/out/." "$dir/" || { "$eng" rm "$c" >/dev/null; ms_die "no /out in $image"; }
    "$eng" rm "$c" >/dev/null
    echo "compile: $(find "$dir" -type f | wc -l) binaries for $platform in $dir"
}

# bundle [FILE] [SERVICE...]: ours must be built; theirs are pulled when missing.
bundle()
{
    local file="${1:-microshop-images.tar}" eng names=() n
    shift || true
    eng="$(engine)"
    mapfile -t names < <(names "$@")
    ((${#names[@]})) || ms_die "no images for: $*"
    for n in "${names[@]}"; do
        "$eng" image inspect "$n" >/dev/null 2>&1 && continue
        [[ $n == "$REGISTRY"/* ]] && ms_die "$n is not built: make images first"
        echo "bundle: pulling $n"
        "$eng" pull -q "$n" >/dev/null || ms_die "cannot pull $n"
    done
    save "$eng" "$file" "${names[@]}"
    (cd "$(dirname -- "$file")" && sha256sum "$(basename -- "$file")") >"$file.sha256"
    echo "bundle: ${#names[@]} images in $file ($(du -h "$file" | cut -f1)): ${names[*]}"
}

# save ENGINE FILE NAME...: one archive; podman's -m keeps every name in one docker archive
# (which docker load reads too); FILE.gz is compressed.
save()
{
    local eng="$1" file="$2" args=()
    shift 2
    [[ $eng == podman ]] && args=(-q -m)
    if [[ $file == *.gz ]]; then
        "$eng" save "${args[@]}" "$@" | gzip -1 >"$file"
    else
        "$eng" save "${args[@]}" -o "$file" "$@"
    fi
}

# missing [SERVICE...]: the names not on this machine, one a line; exit 1 when any.
missing()
{
    local eng n rc=0
    eng="$(engine)"
    while read -r n; do
        "$eng" image inspect "$n" >/dev/null 2>&1 || { echo "$n" && rc=1; }
    done < <(names "$@")
    return "$rc"
}

load()
{
    local file="${1:-}" lost n
    [[ -f $file ]] || ms_die "usage: scripts/images.sh load FILE [SERVICE...]"
    shift
    if [[ -f $file.sha256 ]]; then
        (cd "$(dirname -- "$file")" && sha256sum --quiet -c "$(basename -- "$file").sha256") ||
            ms_die "$file does not match $file.sha256: copy it again"
    fi
    "$(engine)" load -q -i "$file" >/dev/null || ms_die "loading $file failed"
    n="$(names "$@" | wc -l)"
    if lost="$(missing "$@")"; then
        echo "load: all $n images are here: scripts/images.sh up (no build, no download)"
    else
        ms_die "load: $file lacks $(wc -l <<<"$lost") of the $n images: $(paste -sd ' ' <<<"$lost")"
    fi
}

# The compose override that forbids pulling: pull_policy: never for every service (Compose
# Spec; podman-compose 1.0.3 turns it into `podman run --pull never`).
no_pull()
{
    echo "# generated by scripts/images.sh no-pull: run only what is loaded"
    echo "services:"
    services | awk '{ print "  " $1 ":\n    pull_policy: never" }'
}

# The compose command for up: MS_COMPOSE (the whole command, with its -f and -p), else docker
# compose or podman-compose on MS_COMPOSE_FILES, project MS_COMPOSE_PROJECT (microshop).
compose_cmd()
{
    local f
    if [[ -n ${MS_COMPOSE:-} ]]; then
        echo "$MS_COMPOSE"
        return
    fi
    if [[ "$(engine)" == docker ]]; then printf 'docker compose'; else printf podman-compose; fi
    while read -r f; do printf ' -f %s' "$f"; done < <(compose_paths)
    # the project bin/lab looks for (podman-compose 1.0 ignores the file's `name:`)
    echo " -p ${MS_COMPOSE_PROJECT:-microshop}"
}

# up [SERVICE...]: every image must be loaded; compose starts them without building or pulling.
up()
{
    local lost compose=() override rc=0
    lost="$(missing "$@")" || ms_die "not loaded: $(paste -sd ' ' <<<"$lost") (scripts/images.sh load FILE)"
    read -r -a compose <<<"$(compose_cmd)"
    override="$(mktemp "${TMPDIR:-/tmp}/microshop-no-pull.XXXXXX.yml")"
    no_pull >"$override"
    (cd "$MS_ROOT" && "${compose[@]}" -f "$override" up -d --no-build "$@") || rc=$?
    rm -f "$override"
    ((rc == 0)) || ms_die "compose up failed"
    echo "up: started from the loaded images${*:+: $*}"
}

cmd="${1:-}"
shift || true
case "$cmd" in
list) list "$@" ;;
build) build ;;
bundle) bundle "$@" ;;
load) load "$@" ;;
missing) missing "$@" ;;
up) up "$@" ;;
no-pull) no_pull ;;
compile) compile "${1:-}" "${2:-}" ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
