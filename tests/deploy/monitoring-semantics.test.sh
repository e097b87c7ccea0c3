#!/usr/bin/env bash
# The semantic rules of monitoring/ (tests/deploy/monitoring-semantics.mjs), offline: scraping
# that works under the PeerAuthentication in force in sidecar and ambient mode, every dashboard
# provisioned for the cluster's Grafana, every metric exported in the environment its panel is
# shown in, alerts and dashboards limited to the shop's targets. Then one planted violation per
# rule, in a copy of the tree, each of which must make the check fail.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
for tool in node kubectl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -d tests/deploy/node_modules/yaml ]] || { echo "error: run npm ci in tests/deploy" >&2; exit 1; }

echo "== the tree"
node tests/deploy/monitoring-semantics.mjs --root "$ROOT"
echo "== planted violations: each must be caught"
node tests/deploy/monitoring-semantics.mjs --root "$ROOT" --planted
