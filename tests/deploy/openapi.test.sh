#!/usr/bin/env bash
# The API reference (docs/api, OpenAPI 3.1) against the code, offline: yamllint, then
# tests/deploy/openapi.mjs (every route of every services/*/routes.c table and of
# common/src/builtin.c documented, nothing more; the gateway's paths as gateway/nginx.conf
# routes them; the structure and schemas good; the API page's YAML reader reads every document
# as the yaml package does), then the same check on broken
# copies, each of which must fail with the expected message: a route removed, a route the code
# does not have, a method changed, an operation without responses, a schema Ajv cannot
# compile, YAML the page's reader does not read, a gateway path left out. About 3 s.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
# shellcheck source=tests/deploy/lib/openapi-plant.sh
. tests/deploy/lib/openapi-plant.sh
TMP="$(mktemp -d /tmp/ms-openapi-test.XXXXXX)"
trap 'rm -rf -- "$TMP"' EXIT

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

for tool in node yamllint; do
    command -v "$tool" >/dev/null || fail "$tool is required (scripts/install-deps.sh)"
done
[[ -d tests/deploy/node_modules/ajv ]] || fail "run npm ci in tests/deploy"

yamllint -s -c tests/deploy/yamllint.yaml docs/api/*.yaml || fail "yamllint docs/api"
echo "ok: yamllint docs/api"
node tests/deploy/openapi.mjs || fail "docs/api does not match the code (above)"

# planted NAME PATTERN: copies docs/api to $TMP/NAME for the caller to break (the copy's path is
# in COPY); then expect_failure runs the check on it.
planted()
{
    COPY="$TMP/$1"
    PATTERN="$2"
    cp -r docs/api "$COPY"
}

expect_failure()
{
    local out name
    name="$(basename "$COPY")"
    if out="$(node tests/deploy/openapi.mjs "$COPY" 2>&1)"; then
        fail "$name: the check passed a broken copy"
    fi
    grep -Eq -- "$PATTERN" <<<"$out" || fail "$name: expected /$PATTERN/ in: $out"
    echo "ok: planted $name fails: $(grep -E -- "$PATTERN" <<<"$out" | head -n 1)"
}

# A route of the code missing from its document: /products/{id} taken out of product.yaml.
planted route-removed 'product\.yaml: route GET /products/\{id\} is not documented'
awk '/^  \/products\/\{id\}:$/ { skip = 1; next } skip && /^  [^ ]/ { skip = 0 } !skip' \
    docs/api/product.yaml >"$COPY/product.yaml"
expect_failure

# A route the code does not have, documented.
planted route-extra 'product\.yaml: documents GET /products/\{id\}/reviews, which the code does not have'
openapi_plant_extra_route docs/api/product.yaml "$COPY/product.yaml"
expect_failure

# A route the code has, under another method (the admin routes come from common/src/builtin.c).
planted method-changed 'common\.yaml: route DELETE /admin/faults is not documented'
sed 's/^    delete:$/    patch:/' docs/api/common.yaml >"$COPY/common.yaml"
expect_failure

# An operation without responses: not OpenAPI (gateway.yaml's one operation ends the file).
planted no-responses "gateway\.yaml/paths/~1healthz/get.*responses"
sed '/^      responses:$/,$d' docs/api/gateway.yaml >"$COPY/gateway.yaml"
expect_failure

# A schema Ajv cannot compile.
planted bad-schema 'user\.yaml.*(unknown type|must be equal to one of)'
sed 's/email: {type: string, minLength: 3, maxLength: 254}/email: {type: strnig}/' \
    docs/api/user.yaml >"$COPY/user.yaml"
expect_failure

# YAML the page's reader does not read (an anchor): the page would show nothing.
planted page-unreadable "order\.yaml: the API page's YAML reader"
sed 's/^  schemas:$/  schemas: \&s/' docs/api/order.yaml >"$COPY/order.yaml"
expect_failure

# The gateway's document no longer naming a path nginx routes.
planted gateway-path-dropped 'gateway\.yaml: gateway/nginx\.conf routes /products, the document does not say so'
# shellcheck disable=SC2016 # the backquotes are the document's, not the shell's
sed 's|`/products`, `/products/...` to product|the catalog to product|' docs/api/gateway.yaml >"$COPY/gateway.yaml"
! cmp -s docs/api/gateway.yaml "$COPY/gateway.yaml" || fail "gateway-path-dropped: the sed changed nothing"
expect_failure

echo "ok: docs/api matches the code; 7 planted violations caught"
