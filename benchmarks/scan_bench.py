"""Scanner benchmark: `mdreg scan` against picklescan on the same files, in the same run.

    python benchmarks/scan_bench.py [--runs N] [--big-mb 500] [--small-mb 50]

Writes the ``scan`` section of benchmarks/RESULTS.md. Needs picklescan, a benchmark-only
dependency (``pip install picklescan``; not in pyproject.toml).

Files, made here (in a child process, so this process stays small):

- a joblib file of ``--big-mb`` MB: a few large float64 arrays (random, so the page
  cache holds real bytes) and a small dict of parameters;
- a plain pickle of ``--small-mb`` MB: many small objects (dicts of ints, strings,
  floats, datetimes, Decimals, tuples, numpy scalars), protocol 4 with frames and memo;
- the known miss: a small joblib file whose malicious object (``os.system``) comes after
  a numpy array; and the same object pickled plainly, as a control.

Both tools run as whole processes (``python -m mdreg scan FILE --json`` and
``picklescan --path FILE``), alternating, through harness.compare; a tiny pickle gives
each tool's start-up time, which the "scan MB/s" column subtracts. Verdicts come from one
more untimed run of each tool on each file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import MDREG, compare, table  # noqa: E402

SCAN = [*MDREG, "scan"]

PY = sys.executable

_MAKE = r"""
import datetime, decimal, os, pickle, sys
import joblib
import numpy as np

work, big_mb, small_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Touch:  # unpickling it would run a shell command; nothing here unpickles it
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(work, "canary"),))

rng = np.random.default_rng(0)
per = 50 << 20  # 50 MiB arrays
n = max(1, (big_mb << 20) // per)
arrays = {f"layer{i}": rng.random(per // 8) for i in range(n)}
joblib.dump({"params": {"alpha": 0.5, "n_layers": n}, **arrays}, os.path.join(work, "big.joblib"))

base = datetime.datetime(2024, 1, 1)
def record(i):
    return {"id": i, "name": f"item-{i}", "score": i * 0.5, "when": base + datetime.timedelta(seconds=i),
            "tags": ("a", "b", str(i % 7)), "price": decimal.Decimal(f"{i % 1000}.25"),
            "w": np.float64(i % 97)}
per_record = len(pickle.dumps([record(i) for i in range(10000)], protocol=4)) / 10000
records = [record(i) for i in range(int((small_mb << 20) / per_record))]
with open(os.path.join(work, "small.pkl"), "wb") as f:
    pickle.dump(records, f, protocol=4)
del records

joblib.dump({"coef": np.arange(100_000.0), "model": Touch()}, os.path.join(work, "after-array.joblib"))
with open(os.path.join(work, "plain-evil.pkl"), "wb") as f:
    pickle.dump({"model": Touch()}, f, protocol=4)
with open(os.path.join(work, "tiny.pkl"), "wb") as f:
    pickle.dump({"a": 1}, f, protocol=4)
"""


def _picklescan() -> list[str]:
    exe = shutil.which("picklescan") or str(Path(PY).with_name("picklescan"))
    if not Path(exe).exists():
        raise SystemExit("picklescan is not installed: pip install picklescan (benchmark only)")
    return [exe, "--path"]


def _quiet(cmd: list[str]) -> list[str]:
    """Exit 0 whatever the tool's verdict (compare() treats a non-zero exit as a failure);
    GNU time's peak RSS of ``sh`` includes the tool it waited for."""
    return ["sh", "-c", '"$0" "$@" >/dev/null 2>&1; exit 0', *cmd]


def _mdreg_verdict(path: Path) -> str:
    p = subprocess.run([*SCAN, str(path), "--json"], capture_output=True, text=True, check=False)
    doc = json.loads(p.stdout)
    found = sorted(
        {
            f"{f['global']} @ byte {f['offset']}" if f["global"] else f["reason"]
            for r in doc["files"]
            for f in r["findings"]
        }
    )
    return f"{doc['verdict']} (exit {p.returncode})" + (
        f": {', '.join(found[:3])}" if found else ""
    )


def _picklescan_verdict(path: Path) -> str:
    p = subprocess.run([*_picklescan(), str(path)], capture_output=True, text=True, check=False)
    text = p.stdout + p.stderr
    counts = {}
    for line in text.splitlines():
        for key in ("Infected files", "Dangerous globals", "Suspicious globals"):
            if line.startswith(key + ":"):
                counts[key] = line.split(":", 1)[1].strip()
    error = next((ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")), "")
    found = next((ln.split(": ", 1)[1] for ln in text.splitlines() if "FOUND" in ln), "")
    summary = (
        f"{counts.get('Infected files', '?')} infected, {counts.get('Dangerous globals', '?')} "
        f"dangerous, {counts.get('Suspicious globals', '?')} suspicious (exit {p.returncode})"
    )
    if found:
        summary += f": {found}"
    if error:
        summary += f"; {error.replace(str(path), path.name)}"
    return summary


def bench_scan(work: Path, runs: int, big_mb: int = 500, small_mb: int = 50) -> str:
    subprocess.run([PY, "-c", _MAKE, str(work), str(big_mb), str(small_mb)], check=True)
    files = {
        name: work / name
        for name in ("big.joblib", "small.pkl", "after-array.joblib", "plain-evil.pkl", "tiny.pkl")
    }
    ps = _picklescan()
    commands: dict[str, list[str]] = {}
    for label, name in (("tiny", "tiny.pkl"), ("big", "big.joblib"), ("small", "small.pkl")):
        commands[f"mdreg {label}"] = _quiet([*SCAN, str(files[name]), "--json"])
        commands[f"picklescan {label}"] = _quiet([*ps, str(files[name])])
    stats = compare(commands, runs=runs)

    rows = []
    for label, name, what in (
        ("big", "big.joblib", "joblib, large arrays"),
        ("small", "small.pkl", "pickle, many small objects"),
    ):
        mb = files[name].stat().st_size / 1e6
        for tool, verdict in (("mdreg", _mdreg_verdict), ("picklescan", _picklescan_verdict)):
            s, start = stats[f"{tool} {label}"], stats[f"{tool} tiny"].median
            scan_s = s.median - start
            # within start-up noise the difference means nothing: say so
            scan = f"{mb / scan_s:,.0f}" if scan_s > 0.1 else "— (start-up dominates)"
            rows.append(
                [
                    f"{name} ({mb:,.0f} MB, {what})",
                    tool,
                    f"{s.median:.2f}",
                    s.spread,
                    f"{mb / s.median:,.0f}",
                    scan,
                    f"{s.peak_rss_mb:.0f}",
                    verdict(files[name]),
                ]
            )
    start_rows = [
        [t, f"{stats[f'{t} tiny'].median:.2f}", f"{stats[f'{t} tiny'].peak_rss_mb:.0f}"]
        for t in ("mdreg", "picklescan")
    ]
    miss = [
        [name, _mdreg_verdict(files[name]), _picklescan_verdict(files[name])]
        for name in ("after-array.joblib", "plain-evil.pkl")
    ]
    assert not (work / "canary").exists(), "a payload ran"

    return (
        "Whole-process `python -m mdreg scan FILE --json` vs `picklescan --path FILE` "
        f"(picklescan {_version('picklescan')}), alternating, {runs} runs each after a warm-up "
        '(files in the page cache). "MB/s" is file size / median wall time; "scan MB/s" '
        "first subtracts the tool's start-up (its median on a 20-byte pickle). mdreg's "
        "verdicts use every allow-list (no --framework).\n\n"
        + table(
            rows,
            ["file", "tool", "median s", "spread s", "MB/s", "scan MB/s", "peak RSS MB", "verdict"],
        )
        + "\n\nStart-up (a 20-byte pickle):\n\n"
        + table(start_rows, ["tool", "median s", "peak RSS MB"])
        + "\n\nHow to read the joblib row: mdreg walks every pickle opcode and seeks over each "
        "array's raw bytes exactly as joblib.load reads them, so the objects after an array "
        "are checked. picklescan's disassembler stops with a parse error where the first "
        "array's bytes begin: its time on that file is the time to give up, not a scan of "
        "500 MB, and it reports 0 dangerous globals (exit 2, its scan-error code, which it "
        "returns for every joblib file with an array, harmful or not).\n\n"
        "The known miss: the malicious object sits after a numpy array in a joblib file; the "
        "same object pickled plainly is the control.\n\n"
        + table(miss, ["file", "mdreg", "picklescan"])
    )


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


BENCHES = {"scan": bench_scan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--small-mb", type=int, default=50)
    args = parser.parse_args()
    from run import write_section

    with tempfile.TemporaryDirectory(prefix="mdreg-scan-bench-") as tmp:
        body = bench_scan(Path(tmp), args.runs, args.big_mb, args.small_mb)
    write_section("scan", body)
    print(f"## scan\n{body}\n", flush=True)


if __name__ == "__main__":
    main()
