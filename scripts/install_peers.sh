#!/usr/bin/env bash
# Install the NIR peers snncli's conformance tests run, idempotently: Norse 1.1.0 and Rockpool 3.1.0
# (Sinabs comes with scripts/install_sinabs.sh; snnTorch and SpikingJelly with scripts/setup.sh).
# Optional: without them tests/test_producers_fresh.py, tests/test_peers.py and two tests of
# tests/test_conformance.py skip the Norse and Rockpool cases.
#
#   scripts/install_peers.sh [VENV]        (default: .venv, relative to the repo root)
#
# Why --no-deps (see shared/ENVIRONMENT.md, "NIR peers"):
#   * norse 1.1.0 declares torchvision, whose PyPI builds are CUDA builds that fail to import beside the
#     CPU torch 2.13.0; its NIR import/export and neuron modules need only torch, numpy, nir and nirtorch.
#   * rockpool 3.1.0 declares only numpy and scipy; its torch modules and NIR import/export need torch,
#     nir and nirtorch.
#   All of these are snncli's own dependencies already, so nothing else is needed at run time.
# Licenses: Norse LGPL-3.0, Rockpool AGPL-3.0: snncli uses them as installed, optional libraries in tests
# only and copies none of their code.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYBIN="$VENV/bin/python"
if [ ! -x "$PYBIN" ]; then
  echo "[install_peers] no python at $PYBIN (create the venv first: scripts/setup.sh)" >&2
  exit 2
fi
pip_quiet() {
  set +e
  "$PYBIN" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | grep -v -e "is ignored: it is neither a file nor a directory" -e "^ERROR: pip's dependency resolver" \
              -e "^norse .* requires" -e "^sinabs .* requires" -e "^spikingjelly .* requires" \
              -e "^neurobench .* requires" -e "^lava-\(nc\|dl\) .* requires"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

echo "[install_peers] norse 1.1.0 and rockpool 3.1.0 (--no-deps: no CUDA torchvision)"
pip_quiet --no-deps "norse==1.1.0" "rockpool==3.1.0"

echo "[install_peers] check: both import and convert NIR"
"$PYBIN" -c "
import warnings; warnings.simplefilter('ignore')
import norse.torch, rockpool.nn.modules.torch.nir as r
assert hasattr(norse.torch, 'from_nir') and hasattr(norse.torch, 'to_nir') and hasattr(r, 'to_nir')
from importlib.metadata import version
print('[install_peers] ok: norse', version('norse'), '| rockpool', version('rockpool'))
"
