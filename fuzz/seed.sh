#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the project's captures (captures/) and the shared
# conformance corpus (../shared/conformance), with hellowatch's own reader and reassembler
# (examples/seeds.rs). Corpora are not committed (.gitignore). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
inputs=()
for d in ../captures ../../shared/conformance/captures ../../shared/conformance/robustness; do
  if [ -d "$d" ]; then inputs+=("$d"); fi
done
mkdir -p corpus
if [ "${#inputs[@]}" -eq 0 ]; then
  echo "seed.sh: no captures found; the fuzz targets start from empty corpora"
  exit 0
fi
cargo run --quiet --example seeds -- corpus "${inputs[@]}"
