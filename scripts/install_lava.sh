#!/usr/bin/env bash
# Install Intel Lava (lava-nc 0.10.0) and lava-dl 0.6.0 into a venv, idempotently.
#
#   scripts/install_lava.sh [VENV]        (default: .venv, relative to the repo root)
#
# Why it is not a plain `pip install lava-dl` (see shared/ENVIRONMENT.md):
#   * both declare Requires-Python <3.11 and pin numpy<2 / torch<2.4; they run on
#     Python 3.11 with numpy 2.x and torch 2.13, so they go in with
#     --no-deps --ignore-requires-python and their real runtime needs are listed here;
#   * lava-dl declares torchvision, whose PyPI builds do not import beside the CPU
#     torch 2.13.0: it is NOT installed.  Only slayer's object_detection imports
#     torchvision (and opencv); slayer's __init__ imports it eagerly, so
#     scripts/patch_lava.py makes that import lazy and `from lava.lib.dl import netx`
#     works as netx's users write it;
#   * lava-nc 0.10.0 fails on Python 3.11 (var_model.py) and numpy 2.4 (ReshapePort):
#     scripts/patch_lava.py fixes both in the installed sources (a no-op when done).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYBIN="$VENV/bin/python"
if [ ! -x "$PYBIN" ]; then
  echo "[install_lava] no python at $PYBIN (create the venv first: scripts/setup.sh)" >&2
  exit 2
fi
# pip, quiet, without the machine's notes about local index folders it skips and
# without the resolver's complaint about the pins we bypass on purpose
PIP=(pip_quiet)
pip_quiet() {
  set +e
  "$PYBIN" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | grep -v -e "is ignored: it is neither a file nor a directory" -e "^ERROR: pip's dependency resolver" \
              -e "^lava-\(nc\|dl\) .* requires" -e "^spikingjelly .* requires" -e "^neurobench .* requires"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

echo "[install_lava] lava-nc 0.10.0 + lava-dl 0.6.0 (--no-deps --ignore-requires-python)"
"${PIP[@]}" --no-deps --ignore-requires-python "lava-nc==0.10.0" "lava-dl==0.6.0"
# Real runtime needs: lava.magma/lava.proc import asteval (learning rules), networkx,
# scipy, scikit-learn; netx needs h5py.  lava-dl's other declared needs (ninja for
# slayer's CUDA JIT, opencv for slayer's object_detection) serve slayer, which snncli
# does not import.  asteval <0.10 as lava-nc was tested (shared/ENVIRONMENT.md); the
# rest is left free so that pip keeps what the venv already has.
"${PIP[@]}" "asteval<0.10" networkx scipy scikit-learn h5py

echo "[install_lava] source fixes (scripts/patch_lava.py): Python 3.11 var_model, numpy 2.4 ReshapePort, lazy obd"
"$PYBIN" scripts/patch_lava.py

echo "[install_lava] check: Lava fixed-point runtime, and netx imported the documented way"
"$PYBIN" -c "
from snncli.targets.loihi.lava_reference import import_netx
import_netx()
from lava.lib.dl import netx
from lava.magma.core.run_configs import Loihi2SimCfg
import lava.proc.lif.process, lava.proc.dense.process
print('[install_lava] ok: lava-nc', __import__('importlib.metadata').metadata.version('lava-nc'),
      'lava-dl', __import__('importlib.metadata').metadata.version('lava-dl'))
"
