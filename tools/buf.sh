#!/usr/bin/env bash
# buf (pinned in tools/buf, installed by tools/setup.sh) on the public protos
# in proto/.
#   tools/buf.sh lint       buf lint, STANDARD rules (proto/buf.yaml)
#   tools/buf.sh breaking   no breaking change against the committed API
#                           (proto/api_baseline.json)
#   tools/buf.sh baseline   rewrite proto/api_baseline.json from proto/: the
#                           deliberate step that accepts an API change
#   tools/buf.sh ARGS...    any other buf command, e.g. curl
# //tests/api:buf_test runs lint and breaking, and fails while the baseline
# is not the current API (so an addition is accepted explicitly, and a later
# change to it is checked too).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
buf="$root/tools/buf/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
  source "$root/tools/setup.sh"
  slimserve_node_modules
fi
cd "$root/proto"
case "${1:-}" in
  lint) exec "$buf" lint ;;
  breaking) exec "$buf" breaking --against api_baseline.json ;;
  baseline) exec "$buf" build --exclude-source-info -o api_baseline.json ;;
  *) exec "$buf" "$@" ;;
esac
