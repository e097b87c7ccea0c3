#!/usr/bin/env bash
# The answers of a running stack against the API reference (docs/api, OpenAPI 3.1): a native
# stack on free ports in a temporary directory (scripts/up.sh, as the other system tests), then
# tests/system/openapi.mjs calls every documented route of every service, the canary and the
# gateway with valid and invalid input and validates every answer's status, headers and body
# with Ajv2020; an operation of a document that no call covers fails. Then the validation is
# shown to fail against broken copies of the documents: a field's type changed (product's
# price_cents a string), a status taken out (user's 409), a header's schema changed
# (x-service-version), a request schema stricter than the code (cart's quantity at most 1),
# and an operation no call covers. The API page is rendered in chromium
# (tests/system/browser/apipage.mjs) and shown to fail against documents it does not show.
# About 45 s.
set -euo pipefail

# shellcheck source=tests/system/lib/stack-test.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/stack-test.sh"
# shellcheck source=tests/deploy/lib/openapi-plant.sh
. "$ROOT/tests/deploy/lib/openapi-plant.sh"
cd "$ROOT"

ms_test_scratch openapi

[[ -d tests/deploy/node_modules/ajv ]] || fail "run npm ci in tests/deploy (scripts/install-deps.sh)"

ms_section "the native stack (scripts/up.sh on free ports)"
started=$SECONDS
ms_stack_env "$T" "$BIN_DIR"
bash scripts/up.sh >"$T/up.log" 2>&1 || fail "scripts/up.sh failed (its log is below)"
urls=()
for name in $(ms_services) product-v2 gateway; do
    urls+=("$name=$(ms_instance_url "$name")")
done
MS_API_URLS="$(
    IFS=,
    echo "${urls[*]}"
)"
export MS_API_URLS
echo "ok: up in $((SECONDS - started)) s"

ms_section "every documented route, its answers validated against docs/api"
node tests/system/openapi.mjs || fail "answers do not match docs/api (above)"

ms_section "the API page in chromium: every document rendered, under the CSP"
if [[ -d tests/system/browser/node_modules/playwright-core ]] && [[ -x /usr/bin/chromium ]]; then
    FRONTEND_URL="$(ms_instance_url frontend)"
    export FRONTEND_URL
    PROFILE_DIR="$T/chromium" node tests/system/browser/apipage.mjs || fail "the API page (above)"
    cp -r docs/api "$T/page-drift"
    openapi_plant_extra_route docs/api/product.yaml "$T/page-drift/product.yaml"
    if out="$(PROFILE_DIR="$T/chromium-2" node tests/system/browser/apipage.mjs --docs "$T/page-drift" 2>&1)"; then
        fail "page-drift: the page check passed against documents it does not show"
    fi
    grep -q 'product.yaml: the page shows' <<<"$out" || fail "page-drift: expected a product.yaml mismatch in: $out"
    echo "ok: planted page-drift fails: $(grep 'product.yaml: the page shows' <<<"$out" | cut -c1-120)..."
else
    fail "the API page check needs chromium and tests/system/browser/node_modules (scripts/install-deps.sh)"
fi

ms_section "the validation fails on drifted documents"
# expect_drift NAME PATTERN [ONLY]: the check on $T/NAME (a broken copy), with --only ONLY if
# given, fails with PATTERN in its output.
expect_drift()
{
    local out
    if out="$(node tests/system/openapi.mjs --docs "$T/$1" ${3:+--only "$3"} 2>&1)"; then
        fail "$1: the answers validated against a broken copy"
    fi
    grep -Eq -- "$2" <<<"$out" || fail "$1: expected /$2/ in: $out"
    echo "ok: planted $1 fails: $(grep -E -- "$2" <<<"$out" | head -n 1)"
}

cp -r docs/api "$T/type-changed"
sed -i 's/^        price_cents: {type: integer, minimum: 0}$/        price_cents: {type: string}/' \
    "$T/type-changed/product.yaml"
! cmp -s docs/api/product.yaml "$T/type-changed/product.yaml" || fail "type-changed: the sed changed nothing"
expect_drift type-changed 'product GET /products/1: body: /price_cents must be string' product

cp -r docs/api "$T/status-removed"
sed -i '/^  \/users:$/,/^    get:$/{/^        "409": /d}' "$T/status-removed/user.yaml"
! cmp -s docs/api/user.yaml "$T/status-removed/user.yaml" || fail "status-removed: the sed changed nothing"
expect_drift status-removed 'user POST /users: status 409 is not documented' user

cp -r docs/api "$T/header-changed"
sed -i '/^    ServiceVersion:$/,/schema:/s/schema: {type: string, minLength: 1}/schema: {const: v9}/' \
    "$T/header-changed/common.yaml"
! cmp -s docs/api/common.yaml "$T/header-changed/common.yaml" || fail "header-changed: the sed changed nothing"
expect_drift header-changed 'product GET /products/1: header x-service-version: "v1" must be equal to constant' product

cp -r docs/api "$T/request-stricter"
sed -i '0,/quantity: {type: integer, minimum: 1, maximum: 99}/s//quantity: {type: integer, minimum: 1, maximum: 1}/' \
    "$T/request-stricter/cart.yaml"
! cmp -s docs/api/cart.yaml "$T/request-stricter/cart.yaml" || fail "request-stricter: the sed changed nothing"
expect_drift request-stricter 'cart POST /cart/[0-9]+: the service accepted a request body the document rejects: /quantity must be <= 1' cart

cp -r docs/api "$T/uncovered"
openapi_plant_extra_route docs/api/product.yaml "$T/uncovered/product.yaml"
expect_drift uncovered 'product\.yaml GET /products/\{id\}/reviews: no call got a success'

echo "ok: docs/api describes every answer of the stack ($((SECONDS - started)) s)"
