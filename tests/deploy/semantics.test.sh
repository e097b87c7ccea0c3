#!/usr/bin/env bash
# The behaviour rules of tests/deploy/semantics.mjs (what the manifests do on a cluster, issue 10)
# on this tree, then each rule's planted violation (tests/deploy/semantics-violations.mjs),
# which must make it fail with the expected message.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
for tool in node kubectl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -d tests/deploy/node_modules/yaml ]] || { echo "error: run npm ci in tests/deploy" >&2; exit 1; }

echo "== the rules on this tree"
node tests/deploy/semantics.mjs --root "$ROOT"
echo "== planted violations"
node tests/deploy/semantics-violations.mjs --root "$ROOT"
