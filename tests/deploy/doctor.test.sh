#!/usr/bin/env bash
# `make doctor` (scripts/doctor.sh) and .gitattributes:
#   - this checkout: no tracked text file has a CR line ending, and .gitattributes makes every
#     type that breaks with CR (shell, SQL, conf, Lua, YAML, Dockerfile, ...) "text eol=lf";
#   - the native check passes on this machine with its ports moved to free ones;
#   - planted failures, each named with its fix: a CRLF file in a scratch checkout, a
#     .gitattributes without the SQL rule, a cmake older than the CMakeLists needs (a fake one
#     first on PATH), a port held by another program, an unknown way (usage, exit 2);
#   - `doctor bundle` (part of WAY=compose): all of compose's images here, or the missing ones
#     named (planted: two missing from a fake engine).
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source=tests/system/lib/expect.sh
. "$ROOT/tests/system/lib/expect.sh"

T="$(mktemp -d /tmp/ms-doctor.XXXXXX)"
HOLDER=""
cleanup()
{
    local rc=$?
    if [[ -n $HOLDER ]]; then
        kill "$HOLDER" 2>/dev/null || true
        wait "$HOLDER" 2>/dev/null || true
    fi
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT


DOCTOR=(bash "$ROOT/scripts/doctor.sh")

ms_section "this checkout's line endings"
expect 0 'ok +line endings: every tracked text file LF' "${DOCTOR[@]}" line-endings "$ROOT"
echo "ok: no CRLF in the tracked text files, every type covered"

ms_section "planted: CRLF files and a missing rule"
git init -q "$T/repo"
cp "$ROOT/.gitattributes" "$T/repo/"
printf 'echo fine\n' >"$T/repo/good.sh"
printf 'CREATE TABLE t (id int);\n' >"$T/repo/schema.sql"
git -C "$T/repo" add -A
git -C "$T/repo" -c user.name=t -c user.email=t@t commit -qm base
expect 0 'ok +line endings' "${DOCTOR[@]}" line-endings "$T/repo"
printf '#!/bin/sh\r\necho broken\r\n' >"$T/repo/init-databases.sh"
git -C "$T/repo" add init-databases.sh 2>/dev/null
expect 1 'PROBLEM +CRLF line endings in: init-databases.sh' "${DOCTOR[@]}" line-endings "$T/repo"
grep -q 'fix: .*git reset --hard' "$T/out" || fail "no fix named for the CRLF file: $(cat "$T/out")"
echo "ok: a CRLF shell script in the checkout is named, with the fix"
git -C "$T/repo" rm -qf --cached init-databases.sh
rm "$T/repo/init-databases.sh"
grep -v '^\*\.sql ' "$ROOT/.gitattributes" >"$T/repo/.gitattributes"
expect 1 "no 'text eol=lf' rule for x.sql" "${DOCTOR[@]}" line-endings "$T/repo"
echo "ok: a .gitattributes without the SQL rule is named"

ms_section "the native check, every port moved to a free one"
mkdir -p "$T/stack"
ms_stack_env "$T/stack" "$ROOT/build"
expect 0 'ok +ports free' "${DOCTOR[@]}" native
grep -q '^doctor: this machine has what native needs' "$T/out" || fail "$(cat "$T/out")"
echo "ok: doctor native passes here"

ms_section "planted: an old cmake first on PATH"
mkdir -p "$T/fakebin"
printf '#!/bin/sh\necho "cmake version 3.16.3"\n' >"$T/fakebin/cmake"
chmod +x "$T/fakebin/cmake"
expect 1 'PROBLEM +cmake 3\.16\.3 is too old: 3\.21 or newer is needed' \
    env PATH="$T/fakebin:$PATH" "${DOCTOR[@]}" native
grep -q 'fix: sudo apt-get install cmake' "$T/out" || fail "no fix for cmake: $(cat "$T/out")"
echo "ok: cmake 3.16 is named too old, with the fix"

ms_section "planted: a port held by another program"
ms_free_port HELD
redis-server --port "$HELD" --bind 127.0.0.1 --save '' --appendonly no >"$T/holder.log" 2>&1 &
HOLDER=$!
deadline=$((SECONDS + 10))
until ms_port_busy "$HELD"; do
    ((SECONDS < deadline)) || fail "the port holder did not listen on $HELD"
    sleep 0.05
done
expect 1 "PROBLEM +ports in use by another program: $HELD \(MS_GATEWAY_PORT\)" \
    env MS_GATEWAY_PORT="$HELD" "${DOCTOR[@]}" native
echo "ok: the held gateway port $HELD is named with its variable"

ms_section "whether a loaded bundle is here (a fake engine: image inspect fails for \$T/missing)"
cat >"$T/engine" <<EOF
#!/bin/bash
if [[ \$1 == image && \$2 == inspect ]] && grep -qxF "\$3" "$T/missing"; then exit 1; fi
exit 0
EOF
chmod +x "$T/engine"
n="$(bash "$ROOT/scripts/images.sh" list | wc -l)"
: >"$T/missing"
expect 0 "ok +images: all $n here \(a loaded bundle\)" env MS_ENGINE="$T/engine" "${DOCTOR[@]}" bundle
printf '%s\n' grafana/grafana:10.4.5 localhost/microshop/cart:latest >"$T/missing"
expect 1 "note +images: 2 of $n not here: localhost/microshop/cart:latest grafana/grafana:10.4.5" \
    env MS_ENGINE="$T/engine" "${DOCTOR[@]}" bundle
grep -q 'scripts/images.sh load microshop-images.tar' "$T/out" || fail "no way named: $(cat "$T/out")"
echo "ok: all $n images of docker-compose.yml here is said; planted: two missing are named, with the load command"

ms_section "usage"
expect 2 'usage: scripts/doctor.sh' "${DOCTOR[@]}" laptop
echo "ok: an unknown way is a usage error"
echo "all doctor checks passed"
