#!/usr/bin/env bash
# scripts/images.sh (make images, make bundle), with a fake container engine that records what
# it is asked: the image list read from docker-compose.yml (ours: one per Dockerfile target
# compose builds; theirs: the pulled ones), MS_REGISTRY and MS_TAG in every name of ours and in
# docker-compose.yml, builds and pushes of every target, a bundle saving all of them, and a
# bundle refused while one of ours is not built (planted: the engine lacks product's image).
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

ours=() theirs=()
list_checks
naming_checks
fake_engine
build_checks
bundle_checks
echo "all image checks passed"
