"""Whole-process timing and peak memory, measured the same way for every benchmark.

Commands are run alternately (A B C A B C ...) so that a noisy neighbour on a shared
machine slows every contender alike; we report the median and the spread.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: What users run: the console script beside this interpreter (``python -m mdreg``
#: would add runpy's ~5 ms), or ``-m`` where there is none.
MDREG_BIN = Path(sys.executable).parent / "mdreg"
MDREG = [str(MDREG_BIN)] if MDREG_BIN.exists() else [sys.executable, "-m", "mdreg"]


def compile_bytecode() -> None:
    """Write mdreg's ``.pyc`` files, as installing a wheel does.

    An editable install leaves that to the first import, and PYTHONDONTWRITEBYTECODE
    (set on these machines) turns it off: every run would then recompile each module
    edited since its .pyc was written (~1 ms per 100 lines), which is a cost of the
    checkout, not of mdreg.
    """
    import compileall

    import mdreg

    compileall.compile_dir(Path(mdreg.__file__).parent, quiet=1)


compile_bytecode()


@dataclass
class Stats:
    name: str
    seconds: list[float]
    peak_rss_mb: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        return f"{min(self.seconds):.3f}–{max(self.seconds):.3f}"


TIME = "/usr/bin/time"  # GNU time: its child's peak RSS is the command's own


def run_once(
    cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run; raises if the command fails.

    Peak RSS comes from GNU time, not from wait4 here: a child forked from this (large)
    benchmark process would report this process's memory as its own peak.
    """
    wrapped = [TIME, "-f", "%M", *cmd] if os.path.exists(TIME) else cmd
    start = time.perf_counter()
    proc = subprocess.run(
        wrapped,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    seconds = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-2000:]}")
    last = err.strip().rsplit("\n", 1)[-1]
    peak_kb = float(last) if wrapped is not cmd and last.isdigit() else float("nan")
    return seconds, peak_kb / 1024


def compare(
    commands: dict[str, list[str]],
    runs: int = 7,
    warmup: int = 1,
    before: dict[str, callable] | None = None,
    **kw,
) -> dict[str, Stats]:
    """Run each command ``runs`` times, alternating; ``before[name]()`` runs untimed
    before each run (e.g. to clear an output folder)."""
    before = before or {}
    times: dict[str, list[float]] = {n: [] for n in commands}
    rss: dict[str, float] = {n: 0.0 for n in commands}
    for i in range(warmup + runs):
        for name, cmd in commands.items():
            if name in before:
                before[name]()
            seconds, peak = run_once(cmd, **kw)
            if i >= warmup:
                times[name].append(seconds)
                rss[name] = max(rss[name], peak)
    return {n: Stats(n, times[n], rss[n]) for n in commands}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu
            )
    except OSError:
        model = cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)
