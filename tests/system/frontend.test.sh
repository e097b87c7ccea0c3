#!/usr/bin/env bash
# The storefront in a real browser: scripts/up.sh (MS_UP_NO_BUILD=1, the binaries of
# $MS_BINARY_DIR) starts PostgreSQL, Redis, the services, the frontend, the product canary and
# the nginx gateway on free loopback ports in a temporary directory; tests/system/browser/
# storefront.mjs then drives Debian's chromium headless through playwright-core against the
# gateway: the whole purchase from catalog to confirmation and order history with the email
# status; the banner and its retry when injected faults make the product service answer 503 or
# push it past the gateway's 0.5 s (and the order service past the page's own time limit); the
# degraded cart; the SALE badge with the VIP switch; keyboard use, contrast and phone width.
# Screenshots of the main pages are kept in $MS_BINARY_DIR/artifacts/frontend/ (printed at the
# end). scripts/down.sh stops it all by PID (also from the EXIT trap). About 20 s.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
BROWSER_DIR="$ROOT/tests/system/browser"
ARTIFACTS="$BIN_DIR/artifacts/frontend"
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
T=""
START=$SECONDS

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

ok()
{
    echo "ok [$((SECONDS - START))s]: $*"
}

# Stops everything up.sh started.
cleanup()
{
    local rc=$?
    trap - EXIT
    ms_stack_teardown "$T" "$rc"
    exit "$rc"
}
trap cleanup EXIT

start_stack()
{
    ms_stack_env "$T" "$BIN_DIR" || fail "no free ports"
    bash "$ROOT/scripts/up.sh" >"$T/up.log" 2>&1 || fail "scripts/up.sh failed (see its log below)"
    grep -qE "^frontend +http://127\.0\.0\.1:$FRONTEND_PORT " "$T/up.log" ||
        fail "up.sh did not start the frontend: $(cat "$T/up.log")"
    grep -qE "^gateway +http://127\.0\.0\.1:$MS_GATEWAY_PORT " "$T/up.log" ||
        fail "up.sh did not start the gateway (is nginx installed?)"
    ok "up.sh started the stack: gateway :$MS_GATEWAY_PORT, frontend :$FRONTEND_PORT"
}

main()
{
    [[ -x $BIN_DIR/services/frontend/frontend ]] ||
        fail "$BIN_DIR/services/frontend/frontend is not built (MS_BINARY_DIR=$BIN_DIR)"
    [[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium is missing (scripts/install-deps.sh installs it)"
    [[ -f $BROWSER_DIR/node_modules/playwright-core/package.json ]] ||
        fail "playwright-core is not installed in $BROWSER_DIR (scripts/install-deps.sh runs npm ci there)"
    T="$(mktemp -d /tmp/ms-frontend.XXXXXX)"
    chmod 755 "$T" # PostgreSQL runs as postgres, nginx's workers as nobody under root
    rm -rf "$ARTIFACTS"
    mkdir -p "$ARTIFACTS"

    start_stack
    SHOP_URL="http://127.0.0.1:$MS_GATEWAY_PORT" \
        PRODUCT_URL="http://127.0.0.1:$PRODUCT_PORT" \
        PRODUCT_V2_URL="http://127.0.0.1:$PRODUCT_V2_PORT" \
        ORDER_URL="http://127.0.0.1:$ORDER_PORT" \
        ARTIFACTS="$ARTIFACTS" PROFILE_DIR="$T/chromium-profile" \
        timeout 150 node "$BROWSER_DIR/storefront.mjs" || fail "the browser checks failed (see above)"
    echo "screenshots: $ARTIFACTS/"
    ls -1 "$ARTIFACTS"
    echo "frontend: passed in $((SECONDS - START)) s"
}

main "$@"
