#!/usr/bin/env bash
# Set up (idempotent), then the whole path on the bundled sklearn digits:
# train an MLP SNN -> export it to NIR -> simulate it event by event -> energy report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT="${1:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
SNN=.venv/bin/snncli
echo "== train"    && $SNN train --run-dir "$OUT/run" --json "$OUT/train.json"
echo "== export"   && $SNN export "$OUT/run" --target nir -o "$OUT/model.nir" --json "$OUT/export.json"
echo "== simulate" && $SNN simulate "$OUT/model.nir" --json "$OUT/simulate.json"
echo "== report"   && $SNN report "$OUT/simulate.json" -o "$OUT/report" --json "$OUT/report.json"
echo
echo "results in $OUT/:"
echo "  run/            config.yaml, checkpoints/, metrics.json, training_curves.png"
echo "  model.nir       the trained network as a NIR graph"
echo "  simulate.json   hwsim accuracy and per-layer counters"
echo "  report/         report.html (open it in a browser), report.md, report.json, report.png:"
echo "                  energy per profile and latency, SNN vs its ANN twin"
