"""Local catalog benchmarks: `mdreg list` over 10,000 models, and save/load of a 1 GiB
artifact (throughput and peak RSS).

Standalone: ``python benchmarks/catalog_bench.py [--only catalog-list,catalog-io] [--runs N]
[--gib 1]`` (writes its sections of RESULTS.md); or from run.py:
``BENCHES.update(catalog_bench.BENCHES)``.

Set-up work (training, prepare) runs in child processes so that this process stays
small: a child's peak RSS as wait4 reports it starts from the size of the process it
was forked from, and a parent holding sklearn would add ~200 MB to every number.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import MDREG, compare, run_once, table  # noqa: E402

PY = sys.executable


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _prepared(work: Path) -> Path:
    """The iris RandomForest artifact run.py's benchmarks use, made in a child process."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); from run import _iris_model; "
        "from pathlib import Path; from mdreg import prepare; "
        f"m, x = _iris_model(Path({str(work)!r})); "
        f"prepare(m, Path({str(work / 'art')!r}), x_sample=x, force=True)"
    )
    subprocess.run([PY, "-c", code], check=True)
    return work / "art"


def _ids(home: Path) -> list[str]:
    db = sqlite3.connect(home / "catalog.db")
    try:
        return [r[0] for r in db.execute("SELECT id FROM models ORDER BY time_created DESC")]
    finally:
        db.close()


def _fill(home: Path, art: Path, n: int) -> None:
    """One real `mdreg save`, then ``n - 1`` clones of its rows (new ids, names, tags,
    times, labels), inserted in one transaction."""
    from mdreg.catalog.ids import new_model_id

    subprocess.run(
        [
            *MDREG,
            "save",
            str(art),
            "--quiet",
            "--version-set",
            "bench",
            "--version-label",
            "v0",
            "--tag",
            "team=t0",
        ],
        check=True,
        env={**os.environ, "MDREG_HOME": str(home)},
        stdout=subprocess.DEVNULL,
    )
    first_id = _ids(home)[0]
    db = sqlite3.connect(home / "catalog.db", isolation_level=None)
    cols = [r[1] for r in db.execute("PRAGMA table_info(models)")]
    row = dict(zip(cols, db.execute("SELECT * FROM models WHERE id = ?", (first_id,)).fetchone()))
    doc_cols = [r[1] for r in db.execute("PRAGMA table_info(model_documents)")]
    doc = dict(
        zip(
            doc_cols,
            db.execute("SELECT * FROM model_documents WHERE model_id = ?", (first_id,)).fetchone(),
        )
    )
    db.execute("BEGIN")
    for i in range(1, n):
        row.update(
            id=new_model_id(),
            display_name=f"model {i}",
            version_label=f"v{i}",
            time_created=f"2025-01-01T00:00:{i // 1000:02d}.{i % 1000:03d}000+00:00",
            freeform_tags=f'{{"team":"t{i % 10}"}}',
        )
        doc.update(model_id=row["id"])
        db.execute(
            f"INSERT INTO models ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [row[c] for c in cols],
        )
        db.execute(
            f"INSERT INTO model_documents ({','.join(doc_cols)}) VALUES "
            f"({','.join('?' * len(doc_cols))})",
            [doc[c] for c in doc_cols],
        )
    db.execute("COMMIT")
    db.close()


def bench_list(work: Path, runs: int, models: int = 10_000) -> str:
    home = work / "home"
    _fill(home, _prepared(work), models)
    stats = compare(
        {
            "python -c pass": [PY, "-c", "pass"],
            "mdreg --help": [*MDREG, "--help"],
            "mdreg list": [*MDREG, "list"],
            "mdreg list --tag team=t3 --name-contains 99": [
                *MDREG,
                "list",
                "--tag",
                "team=t3",
                "--name-contains",
                "99",
            ],
            "mdreg list --all --json": [*MDREG, "list", "--all", "--json"],
        },
        runs=runs,
        env={"MDREG_HOME": str(home)},
    )
    rows = [
        [n, f"{s.median * 1000:.0f}", s.spread, f"{s.peak_rss_mb:.0f}"] for n, s in stats.items()
    ]
    ms = stats["mdreg list"].median * 1000
    help_ms = stats["mdreg --help"].median * 1000
    return (
        f"{models:,} models in the local catalog. Target: `mdreg list` (the newest 50) at or "
        f"under 300 ms whole-process: {ms:.0f} ms, {_verdict(ms <= 300)}; `mdreg --help` "
        f"takes {help_ms:.0f} ms in the same run, so listing itself costs "
        f"{ms - help_ms:.0f} ms.\n\n"
        + table(rows, ["command", "median ms", "spread s", "peak RSS MB"])
    )


def _artifact_with_model_file(work: Path, mib: int) -> Path:
    from mdreg.artifact.manifest import write_manifest

    art = _prepared(work)
    block = os.urandom(1 << 20)
    with open(art / "weights.bin", "wb") as f:
        f.writelines(block for _ in range(mib))
    write_manifest(art, "benchmark")  # a listed model file: introspect and load hash it
    return art


def bench_io(work: Path, runs: int, gib: float = 1.0) -> str:
    rows = []
    for mib in (1, int(gib * 1024)):
        case = work / f"{mib}m"
        case.mkdir()
        art = _artifact_with_model_file(case, mib)
        size_mb = sum(p.stat().st_size for p in art.rglob("*") if p.is_file()) / 2**20
        results = []
        for i in range(max(1, min(runs, 3))):
            home, out = case / f"home{i}", case / f"out{i}"
            env = {"MDREG_HOME": str(home)}
            save_s, save_rss = run_once([*MDREG, "save", str(art), "--quiet"], env=env)
            load_s, load_rss = run_once(
                [*MDREG, "load", _ids(home)[0], "-o", str(out), "--quiet"], env=env
            )
            results.append((save_s, save_rss, load_s, load_rss))
            shutil.rmtree(home)
            shutil.rmtree(out)
        save_s = sorted(r[0] for r in results)[len(results) // 2]
        load_s = sorted(r[2] for r in results)[len(results) // 2]
        label = f"{size_mb:,.0f} MB" if size_mb >= 10 else f"{size_mb * 1024:,.0f} KB"
        rows.append(
            [
                label,
                "mdreg save",
                f"{save_s:.1f}",
                f"{size_mb / save_s:.0f}",
                f"{max(r[1] for r in results):.0f}",
            ]
        )
        rows.append(
            [
                label,
                "mdreg load",
                f"{load_s:.1f}",
                f"{size_mb / load_s:.0f}",
                f"{max(r[3] for r in results):.0f}",
            ]
        )
        shutil.rmtree(case)
    return (
        "`mdreg save` = introspect (hashes the model file against the manifest) + zip "
        "(hashes the zip while writing it) + store (a rename into the blob store); "
        "`mdreg load ID` = unzip from the blob store + verify every file's sha256. "
        "The model file is random bytes, listed in the manifest. Target: peak RSS the "
        "same for a tiny and a 1 GiB artifact.\n\n"
        + table(rows, ["artifact", "command", "median s", "MB/s", "peak RSS MB"])
    )


BENCHES = {"catalog-list": bench_list, "catalog-io": bench_io}


def main() -> None:
    from run import write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mdreg-bench-") as tmp:
        for name in args.only.split(","):
            work = Path(tmp) / name
            work.mkdir()
            kwargs = {"gib": args.gib} if name == "catalog-io" else {}
            start = time.monotonic()
            body = BENCHES[name](work, args.runs, **kwargs)
            write_section(name, body)
            print(f"## {name} ({time.monotonic() - start:.0f} s)\n{body}\n", flush=True)


if __name__ == "__main__":
    main()
