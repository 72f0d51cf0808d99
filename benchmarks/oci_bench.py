"""OCI upload benchmark: ``mdreg upload`` of a 1 GiB artifact zip to the OCI test server
(tests/oci_server, in its own process on loopback), parallel multipart against a
single-stream ``put_object`` of the same file, in the same run; whole-process time and
peak RSS of each (GNU time).

    python benchmarks/oci_bench.py [--gib 1] [--runs 3] [--stream-mb-s 40]

Two settings of the server:

- loopback, unlimited: what the machine's CPU allows (client and server share it);
- each connection limited to ``--stream-mb-s`` MB/s on the server side, as a long-distance
  TCP stream is limited by its window and round-trip time; parallel parts then add up.

Writes its section (``oci-upload``) of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from harness import MDREG, compare, table  # noqa: E402

PY = sys.executable
BUCKET = "bench"


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


def _admin(url: str, path: str, doc: dict) -> None:
    req = urllib.request.Request(
        f"{url}/_admin/{path}",
        data=json.dumps(doc).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()  # noqa: S310 - loopback


def _artifact_zip(work: Path, gib: float) -> Path:
    """An artifact zip holding ``gib`` GiB of incompressible bytes, made by ``mdreg zip``."""
    art = work / "art"
    art.mkdir()
    (art / "score.py").write_text(
        "def load_model():\n    return 1\n\n\ndef predict(data, model=None):\n    return data\n"
    )
    (art / "runtime.yaml").write_text("MODEL_ARTIFACT_VERSION: '3.0'\n")
    block = os.urandom(1 << 20)
    with open(art / "weights.bin", "wb") as f:
        for i in range(int(gib * 1024)):
            f.write(block[i % 7 :] + block[: i % 7])  # distinct blocks, as cheap to make
    out = work / "artifact.zip"
    subprocess.run([*MDREG, "zip", str(art), "-o", str(out), "-q"], check=True, cwd=ROOT)
    shutil.rmtree(art)
    return out


def bench_oci_upload(work: Path, runs: int, gib: float = 1.0, stream_mb_s: float = 40.0) -> str:
    zip_path = _artifact_zip(work, gib)
    size_mb = zip_path.stat().st_size / 1e6
    server, info = _start_server(work)
    try:
        env = {**info["env"], "MDREG_HOME": str(work / "home")}
        dest = f"oci://{BUCKET}@{info['namespace']}/bench.zip"
        commands = {
            "single stream (put_object)": [
                *MDREG,
                "upload",
                str(zip_path),
                dest,
                "-q",
                "--part-size",
                "50GiB",
            ],
            "multipart, 1 part at a time (128 MiB)": [
                *MDREG,
                "upload",
                str(zip_path),
                dest,
                "-q",
                "--part-size",
                "128MiB",
                "--parallel",
                "1",
            ],
            "multipart, 8 parts at a time (128 MiB)": [
                *MDREG,
                "upload",
                str(zip_path),
                dest,
                "-q",
                "--part-size",
                "128MiB",
                "--parallel",
                "8",
            ],
        }
        rows, ratios = [], {}
        for label, cap in (
            ("loopback, unlimited", None),
            (f"{stream_mb_s:g} MB/s per connection", stream_mb_s),
        ):
            _admin(info["url"], "bandwidth", {"bytes_per_second": cap * 1e6 if cap else None})
            stats = compare(commands, runs=runs, warmup=0, env=env, cwd=str(ROOT))
            for name, s in stats.items():
                rows.append(
                    [
                        label,
                        name,
                        f"{s.median:.1f}",
                        s.spread,
                        f"{size_mb / s.median:.0f}",
                        f"{s.peak_rss_mb:.0f}",
                    ]
                )
            ratios[label] = (
                stats["single stream (put_object)"].median
                / stats["multipart, 8 parts at a time (128 MiB)"].median
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = "; ".join(f"{k}: {v:.2f}x" for k, v in ratios.items())
    return (
        f"`mdreg upload` of a {size_mb:,.0f} MB artifact zip to the OCI test server (its own process, "
        "loopback; the SDK unmodified, every request signed and checked), whole-process time "
        f"({runs} runs each, alternating). Throughput of 8 parallel parts over one stream: {summary}. "
        "Client and server share this machine's cores, so the unlimited row measures CPU, not a "
        "network; the capped row models a long-distance link where each TCP stream is limited. "
        "Target: peak RSS independent of the artifact size (parts are streamed from the file).\n\n"
        + table(rows, ["server", "upload", "median s", "spread s", "MB/s", "peak RSS MB"])
    )


BENCHES = {"oci-upload": bench_oci_upload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--stream-mb-s", type=float, default=40.0)
    args = parser.parse_args()
    from run import write_section  # run.py owns RESULTS.md

    with tempfile.TemporaryDirectory(prefix="mdreg-oci-bench-") as tmp:
        body = bench_oci_upload(Path(tmp), args.runs, args.gib, args.stream_mb_s)
    write_section("oci-upload", body)
    print(f"## oci-upload\n{body}\n", flush=True)


if __name__ == "__main__":
    main()
