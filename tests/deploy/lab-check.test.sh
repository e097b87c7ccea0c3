#!/usr/bin/env bash
# scripts/lab/check.mjs (make lab-check) without a cluster: tests/deploy/lab-check.mjs feeds its
# parsers recorded output, checks the plan, the class grid's cells, and runs the whole program
# against a stub kubectl and a loopback edge.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
for tool in node curl; do command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }; done
node tests/deploy/lab-check.mjs
