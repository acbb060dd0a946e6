#!/usr/bin/env bash
# Check the bundle with the real MONAI Label package, in its own venv (monailabel 0.8.5 needs numpy<2, so it cannot
# share the project's main environment). Not part of the default CI run. Usage:
#   bash scripts/check_monailabel.sh            # creates .venv-monailabel, trains a tiny bundle copy, runs the check
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MONAILABEL_VENV:-.venv-monailabel}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "monailabel==0.8.5"
  "$VENV/bin/python" -m pip install --quiet -e .
fi
"$VENV/bin/python" -c "import monailabel, monai, numpy, torch; print('monailabel', monailabel.__version__, 'monai', monai.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__)"
"$VENV/bin/python" scripts/check_monailabel.py "$@"
