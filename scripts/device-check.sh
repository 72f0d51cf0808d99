#!/usr/bin/env bash
# Everything a lent GPU machine should run, in one go (its time is scarce): install mdreg
# from this tree into a scratch site folder (the machine has the dependencies but no
# network), then the GPU checks, the pytest GPU tests and the GPU payload benchmark.
# Results go to $OUT (the device tool's folder), else ./device-out.
#
#   bash scripts/device-check.sh            # python3, or $PYTHON
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
SITE=$(mktemp -d)
if ! "$PY" -m pip install -q --no-deps --no-build-isolation --no-index --target "$SITE" . >"$OUT/install.log" 2>&1; then
    # No usable build backend there: lay the package out by hand, entry points included.
    "$PY" - "$SITE" <<'PYINSTALL' || exit 1
import shutil, sys, tomllib
from pathlib import Path
site, meta = Path(sys.argv[1]), tomllib.loads(Path("pyproject.toml").read_text())["project"]
shutil.copytree("mdreg", site / "mdreg")
info = site / f"mdreg-{meta['version']}.dist-info"
info.mkdir()
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mdreg\nVersion: {meta['version']}\n")
groups = {"console_scripts": meta["scripts"], **meta["entry-points"]}
(info / "entry_points.txt").write_text("".join(
    f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for g, eps in groups.items()))
print("installed mdreg by hand (pip could not build it here)")
PYINSTALL
fi
# Wheels carried along (the device tool's `carry`, e.g. the typer version pyproject pins).
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-deps --no-index --no-compile --target "$SITE" .whl/*.whl >>"$OUT/install.log" 2>&1 || exit 1
fi
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
"$PY" -c "import sys, torch, numpy, pandas; import typer; print('python', sys.version.split()[0], 'torch', torch.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'typer', typer.__version__, 'mdreg from', __import__('mdreg').__file__)" | tee -a "$OUT/device.txt"
echo "== scripts/gpu-check.sh"
PYTHON=$PY timeout 120 bash scripts/gpu-check.sh >"$OUT/gpu-check.log" 2>&1 || status=1
grep -E "^(PASS|FAIL|SKIP)|CUDA devices" "$OUT/gpu-check.log"
echo "== pytest -m gpu"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/frameworks/test_pytorch.py >"$OUT/pytest-gpu.log" 2>&1 || status=1
tail -3 "$OUT/pytest-gpu.log"
echo "== payload benchmark"
timeout 220 "$PY" benchmarks/payload_bench.py --device cuda --runs 7 --out "$OUT/payloads-gpu.md" >"$OUT/payload-bench.log" 2>&1 || status=1
tail -30 "$OUT/payload-bench.log"
exit $status
