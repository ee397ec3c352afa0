#!/usr/bin/env bash
# Regenerates the API reference into a temporary directory and compares it with the committed docs/api.
# Fails when they differ (a doc comment or a public export changed without `npm run docs:api`), or when
# the generation itself fails (an exported symbol without a doc comment, a broken {@link}).
set -euo pipefail
cd "$(dirname "$0")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if ! npx typedoc --logLevel Warn --out "$out/api" >"$out/typedoc.log" 2>&1; then
  cat "$out/typedoc.log" >&2
  echo "docs/api: generation failed (see above): fix the doc comments, then run npm run docs:api" >&2
  exit 1
fi
if ! diff -r docs/api "$out/api" >"$out/diff.txt"; then
  head -n 40 "$out/diff.txt" >&2
  echo "docs/api is stale: run npm run docs:api" >&2
  exit 1
fi
echo "docs/api is current"
