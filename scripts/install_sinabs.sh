#!/usr/bin/env bash
# Install SynSense's Sinabs 3.1.3 into a venv, idempotently: the Speck target's reference
# (snncli/targets/speck/reference.py).  Optional: without it the Speck oracle tests skip.
#
#   scripts/install_sinabs.sh [VENV]        (default: .venv, relative to the repo root)
#
# Why it is not a plain `pip install sinabs` (see shared/ENVIRONMENT.md):
#   * sinabs 3.1.3 declares nir<=1.0.4 and samna>=0.33.  snncli pins nir 1.0.8 (Sinabs'
#     code runs with it), and every samna on PyPI is a stub that runs pip against a
#     vendor index when imported: samna must never be installed.  So --no-deps, plus its
#     real runtime needs: pbr (sinabs/__init__.py reads its version through pbr); numpy,
#     torch, nir, nirtorch and matplotlib are snncli's own dependencies already.
#   * sinabs.backend.dynapcnn imports samna at module level; snncli imports it through a
#     stand-in that exists only during that import (snncli/targets/speck/reference.py says
#     exactly what is stubbed); chip configuration and device I/O stay unavailable.
# License: the sinabs 3.1.3 wheel is Apache-2.0 (github.com/synsense/sinabs changed from
# AGPL-3.0 to Apache-2.0 in commit 1146550, 2025-03-17).  snncli uses it as an installed,
# optional library and copies none of its code.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYBIN="$VENV/bin/python"
if [ ! -x "$PYBIN" ]; then
  echo "[install_sinabs] no python at $PYBIN (create the venv first: scripts/setup.sh)" >&2
  exit 2
fi
pip_quiet() {
  set +e
  "$PYBIN" -m pip install --disable-pip-version-check -q "$@" 2>&1 \
    | grep -v -e "is ignored: it is neither a file nor a directory" -e "^ERROR: pip's dependency resolver" \
              -e "^sinabs .* requires" -e "^spikingjelly .* requires" -e "^neurobench .* requires" \
              -e "^lava-\(nc\|dl\) .* requires"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

echo "[install_sinabs] sinabs 3.1.3 (--no-deps: no samna, keeps nir 1.0.8) + pbr"
pip_quiet --no-deps "sinabs==3.1.3"
pip_quiet "pbr"

if "$PYBIN" -m pip show -q samna >/dev/null 2>&1; then
  echo "[install_sinabs] warning: a 'samna' package is installed in $VENV; snncli never imports it" \
       "(PyPI's samna is a stub that runs pip on import): 'pip uninstall samna' unless it is SynSense's real one" >&2
fi

echo "[install_sinabs] check: sinabs.backend.dynapcnn imports without samna"
"$PYBIN" -c "
from snncli.targets.speck.reference import import_dynapcnn
dyn = import_dynapcnn()
assert hasattr(dyn, 'DynapcnnNetwork')
print('[install_sinabs] ok: sinabs', __import__('importlib.metadata').metadata.version('sinabs'))
"
