#!/usr/bin/env bash
# GPU check for the generated score.py (run on a machine with a CUDA device):
# prepares a small PyTorch and a small Keras model, runs `mdreg verify`, and asserts
# that the model and its inputs sit on the GPU. Exit 0 only when both pass.
#
#   bash scripts/gpu-check.sh            # uses .venv/bin/python, or $PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" - <<'PYCHECK'
import sys
try:
    import torch
except ImportError:
    sys.exit("torch is not installed: pip install 'mdreg[torch]'")
if not torch.cuda.is_available():
    sys.exit("no CUDA device visible: this check needs a GPU")
print(f"CUDA devices: {torch.cuda.device_count()} ({torch.cuda.get_device_name(0)})")
PYCHECK
status=0
for pair in torch:scripts/gpu_check_torch.py tensorflow:scripts/gpu_check_keras.py; do
    module=${pair%%:*} check=${pair#*:}
    echo "== $check"
    if ! "$PY" -c "import $module" 2>/dev/null; then
        echo "SKIP $check: $module is not installed here (not checked)"; continue
    fi
    if "$PY" "$check"; then echo "PASS $check"; else echo "FAIL $check"; status=1; fi
done
exit $status
