"""Streamed upload benchmark: an artifact folder zipped straight into Object Storage parts
(``mdreg upload FOLDER oci://...``, no zip file) against the two-step path it replaced
(``mdreg zip FOLDER -o tmp.zip``, then ``mdreg upload tmp.zip oci://...``), to the OCI
test server (tests/oci_server, its own process, loopback). Whole-process wall time, peak
RSS and bytes the mdreg processes wrote to the file system (GNU time's %O: the kernel's
block-output count of the process and its children, 512-byte units), per artifact size.

    python benchmarks/stream_bench.py [--sizes 2,5] [--runs 2] [--part-size 128MiB] [--parallel 8]

Sizes are GB (10^9 bytes) of incompressible weights (stored in the zip, as model files
are). Disk: the artifact, the two-step's zip and the server's copy are on disk at once
(about 3x the size): a size that does not fit in the free space of the work folder is
skipped, and the section says so. Writes its section (``oci-stream``) of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from harness import MDREG, TIME, table  # noqa: E402

PY = sys.executable
BUCKET = "bench"
GB = 10**9


def _start_server(work: Path) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "tests.oci_server",
            "--root",
            str(work / "server"),
            "--user-dir",
            str(work / ".oci"),
            "--bucket",
            BUCKET,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        raise RuntimeError("the OCI test server did not start")
    return proc, json.loads(line)


def _artifact(work: Path, size_gb: float) -> Path:
    """score.py, runtime.yaml and ``size_gb`` GB of incompressible weights."""
    art = work / "art"
    art.mkdir()
    (art / "score.py").write_text(
        "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n"
    )
    (art / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    block = os.urandom(1 << 20)
    left = int(size_gb * GB)
    with open(art / "weights.bin", "wb") as f:
        i = 0
        while left > 0:
            chunk = (block[i % 7 :] + block[: i % 7])[:left]  # distinct blocks, cheap to make
            f.write(chunk)
            left -= len(chunk)
            i += 1
    return art


def _measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, bytes written) of one command, via GNU time."""
    start = time.perf_counter()
    proc = subprocess.run(
        [TIME, "-f", "%M %O", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    seconds = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-2000:]}")
    rss_kb, blocks = err.strip().rsplit("\n", 1)[-1].split()
    return seconds, float(rss_kb) / 1024, int(blocks) * 512


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def bench_size(
    work: Path, env: dict[str, str], dest: str, size_gb: float, runs: int, options: list[str]
) -> list[list[str]]:
    art = _artifact(work, size_gb)
    zip_path = work / "two-step.zip"
    results: dict[str, list[tuple[float, float, int, str]]] = {"streamed": [], "two-step": []}
    try:
        for _ in range(runs):  # alternating, so a noisy neighbour slows both alike
            load = _load()
            s, rss, wrote = _measured([*MDREG, "upload", str(art), dest, "-q", *options], env)
            results["streamed"].append((s, rss, wrote, f"{load} → {_load()}"))
            load = _load()
            s1, rss1, w1 = _measured([*MDREG, "zip", str(art), "-o", str(zip_path), "-q"], env)
            s2, rss2, w2 = _measured([*MDREG, "upload", str(zip_path), dest, "-q", *options], env)
            results["two-step"].append((s1 + s2, max(rss1, rss2), w1 + w2, f"{load} → {_load()}"))
            zip_path.unlink()
    finally:
        shutil.rmtree(art)
        zip_path.unlink(missing_ok=True)
    rows = []
    for name, runs_ in results.items():
        seconds = [r[0] for r in runs_]
        median = statistics.median(seconds)
        rows.append(
            [
                f"{size_gb:g} GB",
                name,
                f"{median:.1f}",
                f"{min(seconds):.1f}–{max(seconds):.1f}",
                f"{size_gb * 1000 / median:.0f}",
                f"{max(r[1] for r in runs_):.0f}",
                f"{max(r[2] for r in runs_) / 1e6:,.1f}",
                "; ".join(r[3] for r in runs_),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,5", help="artifact sizes in GB [2,5]")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--part-size", default="128MiB")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--work", default=None, help="work folder [a temp folder]")
    args = parser.parse_args()
    from run import write_section  # run.py owns RESULTS.md

    options = ["--part-size", args.part_size, "--parallel", str(args.parallel)]
    sizes = [float(s) for s in args.sizes.split(",")]
    rows: list[list[str]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mdreg-stream-bench-", dir=args.work) as tmp:
        work = Path(tmp)
        server, info = _start_server(work)
        try:
            env = {**info["env"], "MDREG_HOME": str(work / "home")}
            dest = f"oci://{BUCKET}@{info['namespace']}/bench.zip"
            for size in sizes:
                free = shutil.disk_usage(work).free
                if free < 3.2 * size * GB:
                    skipped.append(
                        f"{size:g} GB (needs ~{3.2 * size:.0f} GB free, {free / GB:.0f})"
                    )
                    continue
                rows += bench_size(work, env, dest, size, args.runs, options)
                print(table(rows[-2:], HEADER), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    body = _section(rows, skipped, args)
    write_section("oci-stream", body)
    print(f"## oci-stream\n{body}\n", flush=True)


HEADER = [
    "artifact",
    "path",
    "median s",
    "spread s",
    "MB/s",
    "peak RSS MB",
    "MB written locally",
    "load avg (1/5/15 min) before → after each run",
]


def _section(rows: list[list[str]], skipped: list[str], args: argparse.Namespace) -> str:
    note = f" Skipped for lack of disk: {', '.join(skipped)}." if skipped else ""
    return (
        "An artifact folder (score.py, runtime.yaml and one incompressible weights file, "
        "stored in the zip) uploaded to the OCI test server (its own process, loopback, "
        f"every request signed and checked), parts of {args.part_size}, {args.parallel} at a "
        "time. **streamed**: `mdreg upload FOLDER oci://...`, the zip written straight into "
        "the multipart upload; **two-step**: what upload and `save --bucket` did before, "
        "`mdreg zip FOLDER -o tmp.zip` then `mdreg upload tmp.zip oci://...` (times added, "
        "the larger peak RSS, writes added). MB written: the mdreg processes' file-system "
        "writes (GNU time %O, 512-byte blocks; the server's copy is its own process and not "
        f"counted). {args.runs} alternating runs per size; client and server share this "
        "machine's cores, so MB/s measures CPU, not a network. The streamed path holds at "
        "most parallel x part size of the zip in memory; it reads a file larger than those "
        "buffers twice (hashed again, from the page cache, for the zip's sha256) and "
        f"writes nothing.{note}\n\n" + table(rows, HEADER)
    )


if __name__ == "__main__":
    main()
