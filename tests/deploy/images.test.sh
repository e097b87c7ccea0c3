#!/usr/bin/env bash
# scripts/images.sh (make images, make bundle), with a fake container engine that records what
# it is asked: the image list read from docker-compose.yml (ours: one per Dockerfile target
# compose builds; theirs: the pulled ones), MS_REGISTRY and MS_TAG in every name of ours and in
# docker-compose.yml, builds and pushes of every target, a bundle saving all of them, and a
# bundle refused while one of ours is not built (planted: the engine lacks product's image);
# MS_PLATFORMS with podman: a manifest list per target, the builder's platform passed as
# BUILDPLATFORM (podman 4.3 would take the target's); the compose files merged (the CI override's
# stand-ins replace the official images), a service subset; `load` checks the archive's
# checksum (planted: a corrupted copy is refused) and that every image arrived (planted: one
# lacking); `up` starts compose with no build and an override setting pull_policy: never on
# every service of docker-compose.yml.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
T="$(mktemp -d /tmp/ms-images.XXXXXX)"
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/system/lib/expect.sh
. "$ROOT/tests/system/lib/expect.sh"
IMAGES=(bash "$ROOT/scripts/images.sh")

# The image list: ours are the Dockerfile targets docker-compose.yml builds (into the global
# ours), theirs the pulled ones (theirs).
list_checks()
{
    local ms_targets targets t i
    ms_targets="$(sed -nE 's/^FROM .* AS ([a-z0-9-]+)$/\1/p' "$ROOT/Dockerfile" | sort | tr '\n' ' ')"
    mapfile -t ours < <("${IMAGES[@]}" list | awk '$1 == "ours" { print $2 }')
    mapfile -t theirs < <("${IMAGES[@]}" list | awk '$1 == "theirs" { print $2 }')
    for t in product cart order user inventory notification frontend gateway-metrics wrk; do
        [[ " ${ours[*]} " == *" $t "* ]] || fail "make images does not build $t (list: ${ours[*]})"
        [[ " $ms_targets " == *" $t "* ]] || fail "$t is no Dockerfile target"
    done
    targets="$(sed -nE 's/^ *build: \{context: \., target: ([a-z0-9-]+)\}$/\1/p' "$ROOT/docker-compose.yml" | sort -u | wc -l)"
    ((${#ours[@]} == targets)) || fail "expected the $targets build targets of docker-compose.yml, got: ${ours[*]}"
    for i in postgres:15 redis:7 nginx:1.25 prom/prometheus: grafana/grafana:; do
        [[ " ${theirs[*]} " == *" $i"* ]] || fail "the bundle lacks $i (theirs: ${theirs[*]})"
    done
    echo "ok: ${#ours[@]} images of ours (Dockerfile targets), ${#theirs[@]} pulled ones, all from docker-compose.yml"
}

# MS_REGISTRY and MS_TAG in every name of ours, in images.sh and docker-compose.yml alike.
naming_checks()
{
    local svc line
    expect 0 '^ours product registry\.class:5000/ms/product:day1$' env MS_REGISTRY=registry.class:5000/ms MS_TAG=day1 "${IMAGES[@]}" list
    for svc in product product-v2 cart order user inventory notification frontend gateway-metrics load; do
        line="$(awk -v s="  $svc:" '$0 == s { on = 1; next } on && /^    image: / { print $2; exit }' "$ROOT/docker-compose.yml")"
        # shellcheck disable=SC2016 # the literal interpolation compose performs
        [[ $line == '${MS_REGISTRY:-localhost/microshop}/'*':${MS_TAG:-latest}' ]] ||
            fail "docker-compose.yml: $svc's image ignores MS_REGISTRY/MS_TAG: $line"
    done
    echo "ok: MS_REGISTRY and MS_TAG name our images, in scripts/images.sh and docker-compose.yml alike"
}

# The fake engine: logs its arguments; `image inspect` fails for the names in $T/missing.
fake_engine()
{
    cat >"$T/engine" <<EOF
#!/bin/bash
echo "\$*" >>"$T/engine.log"
if [[ \$1 == image && \$2 == inspect ]] && grep -qxF "\$3" "$T/missing" 2>/dev/null; then exit 1; fi
if [[ \$1 == save ]]; then : >"\$3"; fi
exit 0
EOF
    chmod +x "$T/engine"
}

# make images builds and pushes every target under the registry prefix.
build_checks()
{
    local t
    expect 0 "^images: ${#ours[@]} built and pushed$" env MS_ENGINE="$T/engine" MS_PUSH=1 MS_REGISTRY=reg.example/ms "${IMAGES[@]}" build
    for t in "${ours[@]}"; do
        grep -qx "build -q --target $t -t reg.example/ms/$t:latest $ROOT" "$T/engine.log" || fail "no build of $t: $(cat "$T/engine.log")"
        grep -qx "push reg.example/ms/$t:latest" "$T/engine.log" || fail "no push of $t"
    done
    echo "ok: make images builds and pushes every target under the registry prefix"
}

# make bundle saves ours and theirs into one archive, and refuses while one of ours is not built.
bundle_checks()
{
    local save i
    : >"$T/engine.log"
    expect 0 "^bundle: $((${#ours[@]} + ${#theirs[@]})) images in $T/b.tar" env MS_ENGINE="$T/engine" "${IMAGES[@]}" bundle "$T/b.tar"
    save="$(grep '^save ' "$T/engine.log")"
    for i in localhost/microshop/product:latest localhost/microshop/wrk:latest postgres:15 grafana/grafana:10.4.5; do
        [[ " $save " == *" $i "* ]] || fail "the bundle does not save $i: $save"
    done
    echo "ok: make bundle saves ours and theirs into one archive"
    echo localhost/microshop/product:latest >"$T/missing"
    expect 1 'localhost/microshop/product:latest is not built: make images first' \
        env MS_ENGINE="$T/engine" "${IMAGES[@]}" bundle "$T/c.tar"
    echo "ok: planted: a bundle with one of ours not built is refused"
}

# MS_PLATFORMS with podman (the fake engine under that name, first on PATH; `info` answers
# aarch64): a manifest list per target, the builder's platform passed as BUILDPLATFORM (podman
# 4.3 would take the target's), pushed with --all.
podman_multiarch_checks()
{
    local t n
    mkdir -p "$T/bin"
    # shellcheck disable=SC2016 # the fake's own code
    sed 's/^exit 0$/if [[ $1 == info ]]; then echo aarch64; fi\nexit 0/' "$T/engine" >"$T/bin/podman"
    chmod +x "$T/bin/podman"
    : >"$T/engine.log"
    expect 0 "^images: ${#ours[@]} built and pushed$" env PATH="$T/bin:$PATH" MS_ENGINE=podman MS_PUSH=1 \
        MS_PLATFORMS=linux/amd64,linux/arm64 "${IMAGES[@]}" build
    for t in "${ours[@]}"; do
        n="localhost/microshop/$t:latest"
        grep -qx "build -q --format docker --platform=linux/amd64,linux/arm64 --build-arg=BUILDPLATFORM=linux/arm64 --manifest $n --target $t $ROOT" \
            "$T/engine.log" || fail "no multi-arch podman build of $t: $(grep -m1 '^build' "$T/engine.log")"
        grep -qx "manifest push --all $n docker://$n" "$T/engine.log" || fail "no manifest push of $t"
    done
    echo "ok: MS_PLATFORMS with podman: a manifest list per target, BUILDPLATFORM the builder's, pushed with --all"
}

# The compose files merged as compose does (the CI override's stand-ins replace the official
# images), and a subset of services.
compose_files_checks()
{
    local ci_files subset
    ci_files="docker-compose.yml docker-compose.ci.yml"
    expect 0 '^theirs localhost/microshop-ci/postgres:latest$' env MS_COMPOSE_FILES="$ci_files" "${IMAGES[@]}" list
    if grep -qE '^theirs (postgres:15|nginx:1.25)$' "$T/out"; then
        fail "the CI override does not replace the official images: $(cat "$T/out")"
    fi
    subset="$(MS_COMPOSE_FILES="$ci_files" "${IMAGES[@]}" list postgres product product-v2 | tr '\n' ' ')"
    [[ $subset == "theirs localhost/microshop-ci/postgres:latest ours product localhost/microshop/product:latest " ]] ||
        fail "list postgres product product-v2: $subset"
    echo "ok: compose files merged as compose does (the CI stand-ins), and a subset of services"
}

# `load` checks the archive's checksum (planted: a corrupted copy) and that every image arrived
# (planted: one lacking, which `missing` names too).
load_checks()
{
    : >"$T/missing"
    printf 'archive' >"$T/d.tar"
    (cd "$T" && sha256sum d.tar >d.tar.sha256)
    expect 0 "^load: all $((${#ours[@]} + ${#theirs[@]})) images are here" env MS_ENGINE="$T/engine" "${IMAGES[@]}" load "$T/d.tar"
    grep -qx "load -q -i $T/d.tar" "$T/engine.log" || fail "load did not load $T/d.tar"
    printf 'archivX' >"$T/d.tar"
    expect 1 'does not match .*d.tar.sha256: copy it again' env MS_ENGINE="$T/engine" "${IMAGES[@]}" load "$T/d.tar"
    echo "ok: planted: a corrupted copy of the bundle is refused before loading"
    (cd "$T" && sha256sum d.tar >d.tar.sha256)
    echo grafana/grafana:10.4.5 >"$T/missing"
    expect 1 'lacks 1 of the .* images: grafana/grafana:10.4.5' env MS_ENGINE="$T/engine" "${IMAGES[@]}" load "$T/d.tar"
    expect 1 '^grafana/grafana:10.4.5$' env MS_ENGINE="$T/engine" "${IMAGES[@]}" missing
    MS_ENGINE="$T/engine" "${IMAGES[@]}" missing postgres product >"$T/out" || fail "missing postgres product: $(cat "$T/out")"
    [[ ! -s $T/out ]] || fail "missing postgres product names: $(cat "$T/out")"
    echo "ok: planted: an archive lacking an image is named, image by image (scripts/images.sh missing)"
}

# `up` starts compose with no build and an override setting pull_policy: never on every service
# of docker-compose.yml, and refuses while an image is missing.
up_checks()
{
    : >"$T/missing"
    cat >"$T/compose" <<EOF
#!/bin/bash
echo "\$*" >"$T/compose.log"
while [[ \$# -gt 0 ]]; do [[ \$1 == -f ]] && cp "\$2" "$T/override.yml"; shift; done
exit 0
EOF
    chmod +x "$T/compose"
    expect 0 '^up: started from the loaded images: postgres product$' env MS_ENGINE="$T/engine" \
        MS_COMPOSE="$T/compose -p class" "${IMAGES[@]}" up postgres product
    grep -qE '^-p class -f /.*\.yml up -d --no-build postgres product$' "$T/compose.log" ||
        fail "up ran: $(cat "$T/compose.log")"
    (cd "$ROOT" && node --input-type=module - "$ROOT" "$T/override.yml") <<'JS' || fail "the no-pull override (above)"
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [root, file] = process.argv.slice(2);
const YAML = createRequire(`${root}/tests/deploy/package.json`)('yaml');
const base = Object.keys(YAML.parse(readFileSync(`${root}/docker-compose.yml`, 'utf8'), { merge: true }).services);
const over = YAML.parse(readFileSync(file, 'utf8')).services;
const bad = base.filter((s) => over?.[s]?.pull_policy !== 'never');
if (bad.length || Object.keys(over).length !== base.length) { console.error(`no pull_policy: never for ${bad}`); process.exit(1); }
JS
    echo grafana/grafana:10.4.5 >"$T/missing"
    expect 1 'not loaded: grafana/grafana:10.4.5' env MS_ENGINE="$T/engine" MS_COMPOSE="$T/compose" "${IMAGES[@]}" up
    echo "ok: up: compose with --no-build and pull_policy: never on every service; refused while an image is missing"
}

# `up` without MS_COMPOSE: podman-compose on docker-compose.yml, project microshop (as bin/lab).
up_podman_checks()
{
    : >"$T/missing"
    cp "$T/compose" "$T/bin/podman-compose"
    expect 0 '^up: started from the loaded images$' env PATH="$T/bin:$PATH" MS_ENGINE=podman "${IMAGES[@]}" up
    grep -qE "^-f $ROOT/docker-compose.yml -p microshop -f /.*\.yml up -d --no-build$" "$T/compose.log" ||
        fail "up without MS_COMPOSE ran: $(cat "$T/compose.log")"
    echo "ok: up without MS_COMPOSE: podman-compose on docker-compose.yml, project microshop (as bin/lab)"
}

ours=() theirs=()
list_checks
naming_checks
fake_engine
build_checks
bundle_checks
podman_multiarch_checks
compose_files_checks
load_checks
up_checks
up_podman_checks
echo "all image checks passed"
