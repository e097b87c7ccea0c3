#!/usr/bin/env bash
# The documentation against the tree, offline (tests/deploy/docs.mjs): README.md at most 200
# lines; every relative link and #anchor in README.md, CONTRIBUTING.md and docs/*.md resolves;
# each page over 80 lines opens with a table of contents; every `make TARGET` they name is a
# Makefile target; docs/configuration.md names every variable the services read (ms_config_*
# and getenv in common/ and services/, and the upstream settings) and nothing the code and
# scripts do not read. Then the planted violations (tests/deploy/docs-violations.mjs), each of
# which must make it fail with the expected message: a broken link, a broken anchor, a make
# target the Makefile lacks, an undocumented variable, a documented variable nothing reads, a
# long page without contents, a README over 200 lines. About a second.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
command -v node >/dev/null || { echo "error: node is required (scripts/install-deps.sh)" >&2; exit 1; }

echo "== the documentation of this tree"
node tests/deploy/docs.mjs "$ROOT"
echo "== planted violations"
node tests/deploy/docs-violations.mjs --root "$ROOT"
