"""Differential fuzzing of mdreg's pickle walker: `make fuzz` or
`python benchmarks/fuzz.py [--cases N] [--seed S] [--no-write]`.

Runs tests/security/fuzz.py's generators and oracle (the C and pure-Python unpicklers,
each reading a real file and io.BytesIO) on seeds S .. S+N-1, and writes the "fuzz"
section of benchmarks/RESULTS.md. Exits 1 when there is a finding: a global an
unpickler asked for that the walker neither reported nor called dangerous. Each
finding is printed with its seed and its minimized bytes (hex); rerun one with
`--seed SEED --cases 1`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from harness import table  # noqa: E402

from tests.security import fuzz  # noqa: E402

BATCH = 10_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    start = time.perf_counter()
    bases = fuzz.real_pickles()
    setup = time.perf_counter() - start
    total = fuzz.Stats()
    with tempfile.TemporaryDirectory(prefix="mdreg-fuzz-") as tmp:
        for first in range(args.seed, args.seed + args.cases, BATCH):
            last = min(first + BATCH, args.seed + args.cases)
            stats = fuzz.fuzz(range(first, last), bases, Path(tmp))
            total.cases += stats.cases
            total.seconds += stats.seconds
            total.generators.update(stats.generators)
            total.findings += stats.findings
            total.skipped += stats.skipped
            total.asked += stats.asked
            total.split += stats.split
            print(
                f"{total.cases:>9,} cases  {total.seconds:7.1f} s  {len(total.findings)} findings",
                flush=True,
            )
    for finding in total.findings:
        print(finding.describe(), flush=True)

    body = _report(args, total, setup, load)
    if not args.no_write:
        from run import write_section  # run.py owns RESULTS.md

        write_section("fuzz", body)
    print(body)
    return 1 if total.findings else 0


def _report(args: argparse.Namespace, s: fuzz.Stats, setup: float, load: float) -> str:
    rate = s.cases / s.seconds if s.seconds else 0.0
    mutated = sum(n for g, n in s.generators.items() if g.startswith("mutate"))
    rows = [
        ["grammar", f"{s.generators['grammar']:,}", f"{s.generators['grammar'] / s.cases:.0%}"],
        ["mutate (all bases)", f"{mutated:,}", f"{mutated / s.cases:.0%}"],
    ]
    rows += [
        [f"- {g}", f"{n:,}", f"{n / s.cases:.1%}"]
        for g, n in sorted(s.generators.items())
        if g.startswith("mutate")
    ]
    found = (
        "**none**"
        if not s.findings
        else f"**{len(s.findings)}**: "
        + "; ".join(f"seed {f.seed} missed {f.missed}" for f in s.findings[:10])
    )
    return (
        f"`python benchmarks/fuzz.py --cases {args.cases} --seed {args.seed}`: "
        f"{s.cases:,} cases (seeds {args.seed}..{args.seed + s.cases - 1}) in {s.seconds:.0f} s, "
        f"{rate:,.0f} cases/s (plus {setup:.0f} s building the real model pickles). "
        f"Findings (a global an unpickler asked find_class for that the walker neither "
        f"reported nor called dangerous): {found}.\n\n"
        "Each case is walked by mdreg and loaded four ways: the C and the pure-Python "
        "unpickler, each from a real file and from io.BytesIO, with a find_class that "
        "records and returns an inert stand-in. "
        f"An unpickler asked for a global in {s.asked:,} cases; the C and Python "
        f"unpicklers asked for different globals in {s.split:,} (frame tricks and other "
        f"reader differences the walker has to refuse); {s.skipped:,} cases were skipped "
        "(a PUT key that would make the C unpickler's memo gigabytes long).\n\n"
        + table(rows, ["generator", "cases", "share"])
        + f"\n\nMachine caveat: cases/s is one run on a shared machine (load average "
        f"{load:.1f} when it started); compare rates only within one run. The findings "
        "count does not depend on the machine: the seeds fix every case."
    )


if __name__ == "__main__":
    sys.exit(main())
