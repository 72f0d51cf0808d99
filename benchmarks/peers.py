"""mdreg side by side with its peers, Oracle's ADS SDK (`oracle-ads`) and MLflow:
`make bench-peers`, or `python benchmarks/peers.py [--only a,b] [--runs N] [--rounds N]`.

Jobs (each writes its section of benchmarks/RESULTS.md with run.py's write_section):

  peers-startup     CLI cold start: `mdreg --help`, `mlflow --help`, `python -c "import ads"`
  peers-prepare     iris RandomForest + X/y sample -> deployable artifact, whole process:
                    `mdreg prepare`, ADS `SklearnModel.prepare`, `mlflow.sklearn.save_model`
  peers-introspect  check the artifact: `mdreg introspect`, ADS `.introspect()`, ADS's
                    validator script
  peers-serve       the generated score.py's predict(), 1 and 10,000 rows, four request
                    formats: mdreg's vs ADS's vs the raw model.predict
  peers-zip         zip a 1 GiB and a 4 GiB artifact: time and peak RSS, mdreg vs ADS
  peers-torch       mdreg's score.py for a small TorchScript CNN vs the raw forward, batch 1/64
  peers             the summary: each target, the ratio measured, met or missed

The peers live in their own venvs, made once and cached outside the repository:
$MDREG_BENCH_CACHE (default ~/.cache/mdreg-bench)/ads-venv and /mlflow-venv, or wherever
$MDREG_BENCH_ADS_VENV / $MDREG_BENCH_MLFLOW_VENV point. ADS runs offline through the
patches in benchmarks/peers/ads_offline.py (described in RESULTS.md).

Whole-process jobs alternate their commands (A B C A B C ...), as harness.compare does,
and record wall time, CPU time (user + sys) and peak RSS from GNU time. In-process jobs
(serve, torch) alternate whole processes, one per contender per round, and report the
median over rounds of each process's median call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers"
sys.path.insert(0, str(HERE))

from harness import MDREG, now, table  # noqa: E402

PY = sys.executable
TIME = "/usr/bin/time"

CACHE = Path(os.environ.get("MDREG_BENCH_CACHE", "~/.cache/mdreg-bench")).expanduser()
ADS_VENV = Path(os.environ.get("MDREG_BENCH_ADS_VENV", CACHE / "ads-venv")).expanduser()
MLFLOW_VENV = Path(os.environ.get("MDREG_BENCH_MLFLOW_VENV", CACHE / "mlflow-venv")).expanduser()
SUMMARY = CACHE / "peers-summary.json"
RECORD = True  # --no-write turns it off: a trial run leaves the summary alone

# Pinned, so that numbers from different days compare; torch is pinned whatever pulls it
# in (an unpinned torch is a multi-GB CUDA build).
ADS_REQUIREMENTS = ["oracle-ads==2.16.1", "scikit-learn==1.9.1"]
MLFLOW_REQUIREMENTS = ["mlflow==3.17.2", "scikit-learn==1.9.1"]
CONSTRAINTS = ["torch==2.13.0"]

# One thread for numpy/OpenMP/torch in the serving jobs: on a shared 2-core machine a
# second thread adds noise, not speed. The same for every contender.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


# ---------------------------------------------------------------------------------------
# Environments


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, requirements: list[str]) -> Path:
    """The venv's python, after creating the venv and installing ``requirements`` unless
    a previous run did exactly that (recorded in mdreg-bench.json inside the venv)."""
    stamp = venv / "mdreg-bench.json"
    want = {
        "requirements": requirements,
        "constraints": CONSTRAINTS,
        "python": platform.python_version(),
    }
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return venv_python(venv)
    print(
        f"setting up {venv} ({' '.join(requirements)}); this takes a few minutes",
        file=sys.stderr,
        flush=True,
    )
    if not venv_python(venv).exists():
        base = getattr(sys, "_base_executable", PY)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    constraints = CACHE / "constraints.txt"
    constraints.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    subprocess.run(
        [
            str(venv_python(venv)),
            "-m",
            "pip",
            "install",
            "-q",
            *requirements,
            "-c",
            str(constraints),
        ],
        check=True,
    )
    stamp.write_text(json.dumps(want))
    return venv_python(venv)


def _installed(python: Path, names: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=False
    )
    return json.loads(out.stdout) if out.returncode == 0 else {}


def oci_dummy_config(ads_python: Path) -> Path:
    """An OCI config + RSA key that ADS can build its (never used) signer from."""
    folder = CACHE / "oci"
    config = folder / "config"
    if config.exists():
        return config
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "key.pem"
    code = (
        "import sys\n"
        "from cryptography.hazmat.primitives import serialization\n"
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"
        "k = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n"
        "open(sys.argv[1], 'wb').write(k.private_bytes(serialization.Encoding.PEM, "
        "serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))\n"
    )
    subprocess.run([str(ads_python), "-c", code, str(key)], check=True)
    key.chmod(0o600)
    config.write_text(
        "[DEFAULT]\n"
        "# dummy: lets ADS build OCI clients offline; nothing is ever sent with it\n"
        "user=ocid1.user.oc1..aaaaaaaamdregbenchmarkofflineuser\n"
        "fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n"
        "tenancy=ocid1.tenancy.oc1..aaaaaaaamdregbenchmarkofflinetenancy\n"
        "region=us-ashburn-1\n"
        f"key_file={key}\n"
    )
    return config


@dataclass
class Env:
    ads: Path
    mlflow: Path
    child_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def setup(cls, need_mlflow: bool = True) -> Env:
        ads = ensure_venv(ADS_VENV, ADS_REQUIREMENTS)
        mlflow = (
            ensure_venv(MLFLOW_VENV, MLFLOW_REQUIREMENTS)
            if need_mlflow
            else venv_python(MLFLOW_VENV)
        )
        config = oci_dummy_config(ads)
        # This machine's environment sets PYTHONDONTWRITEBYTECODE, under which mdreg (an
        # editable install) would be compiled from source on every run, while the peers'
        # site-packages hold the .pyc files pip wrote. Compile mdreg once and let every
        # child read (and refresh) bytecode, as any installed package does.
        subprocess.run(
            [PY, "-m", "compileall", "-q", str(REPO / "mdreg")],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        child_env = {
            "PYTHONDONTWRITEBYTECODE": "",
            "OCI_CONFIG_LOCATION": str(config),
            "OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING": "True",
            "MLFLOW_TRACKING_URI": "",
            "GIT_PYTHON_REFRESH": "quiet",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        return cls(ads, mlflow, child_env)


# ---------------------------------------------------------------------------------------
# Measuring


@dataclass
class Runs:
    name: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    inner: list[float] = field(default_factory=list)  # seconds a job reported itself

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def spread(self) -> str:
        return f"{min(self.wall):.2f}–{max(self.wall):.2f}"


def run_once(
    cmd: list[str], env: dict[str, str], cwd: str | None = None
) -> tuple[float, float, float, str]:
    """(wall s, user+sys s, peak RSS MB, stdout) of one run; raises if it fails. GNU time
    measures the command itself, so this (small) process's size never leaks into it."""
    wrapped = [TIME, "-f", "@@time %e %U %S %M", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(
        wrapped, capture_output=True, env={**os.environ, **env}, cwd=cwd, check=False
    )
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-3000:]}")
    line = [x for x in err.splitlines() if x.startswith("@@time ")][-1].split()
    user, sys_, peak_kb = float(line[2]), float(line[3]), float(line[4])
    return wall, user + sys_, peak_kb / 1024, proc.stdout.decode(errors="replace")


def compare(
    commands: dict[str, list[str]],
    env: dict[str, str],
    runs: int,
    warmup: int = 1,
    before: dict[str, Callable[[], None]] | None = None,
    cwd: str | None = None,
) -> dict[str, Runs]:
    """Each command ``warmup + runs`` times, alternating; ``before[name]()`` untimed."""
    before = before or {}
    out = {n: Runs(n) for n in commands}
    for i in range(warmup + runs):
        for name, cmd in commands.items():
            if name in before:
                before[name]()
            wall, cpu, rss, stdout = run_once(cmd, env, cwd)
            if i < warmup:
                continue
            r = out[name]
            r.wall.append(wall)
            r.cpu.append(cpu)
            r.rss_mb = max(r.rss_mb, rss)
            for line in stdout.splitlines():
                if line.startswith("inner_seconds="):
                    r.inner.append(float(line.split("=", 1)[1]))
    return out


def _rows(stats: dict[str, Runs], unit: str = "s") -> list[list[str]]:
    scale, fmt = (1000, "{:.0f}") if unit == "ms" else (1, "{:.2f}")
    return [
        [
            n,
            fmt.format(s.median * scale),
            s.spread,
            fmt.format(s.cpu_median * scale),
            f"{s.rss_mb:.0f}",
        ]
        for n, s in stats.items()
    ]


def _header(unit: str) -> list[str]:
    return ["command", f"median wall {unit}", "spread wall s", f"median CPU {unit}", "peak RSS MB"]


def _ratio(peer: Runs, ours: Runs) -> tuple[float, float]:
    return peer.median / ours.median, peer.cpu_median / ours.cpu_median


def record(job: str, rows: list[dict]) -> None:
    """Keep this job's target rows for the summary section (the latest run of each job)."""
    if not RECORD:
        return
    data = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    data[job] = {"when": now(), "rows": rows}
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(data, indent=1))


def _fixture(env: Env, job: str, *args: str) -> None:
    subprocess.run(
        [PY, str(PEERS / "fixtures.py"), job, *args],
        check=True,
        env={**os.environ, **env.child_env},
    )


def _iris(env: Env, work: Path) -> tuple[Path, Path, Path]:
    if not (work / "iris_y.csv").exists():
        _fixture(env, "iris", str(work))
    return work / "iris_rf.joblib", work / "iris_x.csv", work / "iris_y.csv"


def _mdreg_prepare(env: Env, work: Path, out: Path) -> list[str]:
    model, x, y = _iris(env, work)
    return [
        *MDREG,
        "prepare",
        str(model),
        "-o",
        str(out),
        "--x-sample",
        str(x),
        "--y-sample",
        str(y),
        "--force",
    ]


def _ads(env: Env, *args: str) -> list[str]:
    return [str(env.ads), str(PEERS / "ads_job.py"), *args]


# ---------------------------------------------------------------------------------------
# Jobs


def bench_startup(env: Env, work: Path, runs: int, **_: object) -> str:
    stats = compare(
        {
            "python -c pass (mdreg venv)": [PY, "-c", "pass"],
            "mdreg --help": [*MDREG, "--help"],
            "mlflow --help": [str(MLFLOW_VENV / "bin" / "mlflow"), "--help"],
            "python -c 'import ads'": [str(env.ads), "-c", "import ads"],
        },
        env.child_env,
        runs=runs,
    )
    ours = stats["mdreg --help"]
    ads_w, ads_c = _ratio(stats["python -c 'import ads'"], ours)
    mlf_w, mlf_c = _ratio(stats["mlflow --help"], ours)
    record(
        "startup",
        [
            {
                "target": "start-up ≥ 10x faster than ADS (`import ads`)",
                "wall": ads_w,
                "cpu": ads_c,
                "goal": 10.0,
            },
            {
                "target": "start-up vs MLflow (`mlflow --help`), no target",
                "wall": mlf_w,
                "cpu": mlf_c,
                "goal": None,
            },
        ],
    )
    return (
        f'Target: `mdreg --help` at least 10x faster than `python -c "import ads"`: '
        f"{ads_w:.1f}x wall, {ads_c:.1f}x CPU, {_verdict(ads_w >= 10)}. "
        f"`mlflow --help` / `mdreg --help`: {mlf_w:.1f}x wall, {mlf_c:.1f}x CPU.\n\n"
        + table(_rows(stats, "ms"), _header("ms"))
    )


def bench_prepare(env: Env, work: Path, runs: int, **_: object) -> str:
    model, x, y = _iris(env, work)
    outs = {k: work / f"prep-{k}" for k in ("mdreg", "ads", "mlflow", "mlflow-req")}

    def clear(key: str) -> Callable[[], None]:
        return lambda: shutil.rmtree(outs[key], ignore_errors=True)

    mlflow_job = [str(env.mlflow), str(PEERS / "mlflow_job.py"), str(model), str(x), str(y)]
    commands = {
        "import sklearn.ensemble, joblib, pandas + joblib.load (the floor)": [
            PY,
            "-c",
            f"import sklearn.ensemble, joblib, pandas; joblib.load({str(model)!r})",
        ],
        "mdreg prepare": _mdreg_prepare(env, work, outs["mdreg"]),
        "ADS SklearnModel(...).prepare(...)": _ads(
            env, "prepare", str(model), str(x), str(y), str(outs["ads"])
        ),
        "mlflow.sklearn.save_model(signature=...)": [*mlflow_job, str(outs["mlflow"])],
        "mlflow.sklearn.save_model(signature=..., pip_requirements=...)": [
            *mlflow_job,
            str(outs["mlflow-req"]),
            "--pip-requirements",
        ],
    }
    before = {
        "mdreg prepare": clear("mdreg"),
        "ADS SklearnModel(...).prepare(...)": clear("ads"),
        "mlflow.sklearn.save_model(signature=...)": clear("mlflow"),
        "mlflow.sklearn.save_model(signature=..., pip_requirements=...)": clear("mlflow-req"),
    }
    stats = compare(commands, env.child_env, runs=runs, before=before)
    ours = stats["mdreg prepare"]
    ads_w, ads_c = _ratio(stats["ADS SklearnModel(...).prepare(...)"], ours)
    mlf_w, mlf_c = _ratio(stats["mlflow.sklearn.save_model(signature=...)"], ours)
    floor = stats["import sklearn.ensemble, joblib, pandas + joblib.load (the floor)"]
    ideal = stats["ADS SklearnModel(...).prepare(...)"].cpu_median / floor.cpu_median
    record(
        "prepare",
        [
            {
                "target": "prepare ≥ 3x faster than ADS, whole process",
                "wall": ads_w,
                "cpu": ads_c,
                "goal": 3.0,
            },
            {
                "target": "prepare vs MLflow save_model with signature, no target",
                "wall": mlf_w,
                "cpu": mlf_c,
                "goal": None,
            },
        ],
    )
    files = {k: sorted(p.name for p in v.iterdir()) if v.exists() else [] for k, v in outs.items()}
    return (
        f"Target: `mdreg prepare` at least 3x faster than ADS `SklearnModel.prepare`, whole "
        f"process: {ads_w:.1f}x wall, {ads_c:.1f}x CPU, {_verdict(ads_w >= 3)}. MLflow "
        f"`save_model` / mdreg: {mlf_w:.1f}x wall, {mlf_c:.1f}x CPU.\n\n"
        f"Every contender starts from the same joblib file and sample CSVs and ends with "
        f"a folder it can serve. The floor is what any tool that loads the model pays "
        f"(scikit-learn imports pandas and scipy): mdreg prepare spends "
        f"{ours.cpu_median - floor.cpu_median:.2f} s CPU above it; ADS could be beaten "
        f"by at most {ideal:.1f}x (CPU) by a tool that loads the model.\n\n"
        + table(_rows(stats), _header("s"))
        + "\n\nFiles written: "
        + "; ".join(f"{k}: {', '.join(v)}" for k, v in files.items() if v)
        + "."
    )


def bench_introspect(env: Env, work: Path, runs: int, **_: object) -> str:
    ours_art, ads_art = work / "art-mdreg", work / "art-ads"
    model, x, y = _iris(env, work)
    run_once(_mdreg_prepare(env, work, ours_art), env.child_env)
    run_once(_ads(env, "prepare", str(model), str(x), str(y), str(ads_art)), env.child_env)
    stats = compare(
        {
            "mdreg introspect": [*MDREG, "introspect", str(ours_art)],
            "ADS .from_model_artifact(...).introspect()": _ads(env, "introspect", str(ads_art)),
            "ADS validator script (model_artifact_validate.py)": _ads(
                env, "validate", str(ads_art)
            ),
        },
        env.child_env,
        runs=runs,
    )
    ours = stats["mdreg introspect"]
    best_ads = min((stats[k] for k in stats if k.startswith("ADS")), key=lambda s: s.median)
    ads_w, ads_c = _ratio(best_ads, ours)
    record(
        "introspect",
        [
            {
                "target": "introspect ≥ 10x faster than ADS (its faster way)",
                "wall": ads_w,
                "cpu": ads_c,
                "goal": 10.0,
            }
        ],
    )
    return (
        f"Target: `mdreg introspect` at least 10x faster than ADS (the faster of its two "
        f"ways, here {best_ads.name}): {ads_w:.1f}x wall, {ads_c:.1f}x CPU, "
        f"{_verdict(ads_w >= 10)}. Each tool checks the artifact it prepared itself. "
        f"mdreg runs the service's 11 checks plus its own 7 (manifest hashes, schemas, "
        f"runtime keys, framework sniffing, score.py imports, pickle scan); ADS the 11.\n\n"
        + table(_rows(stats, "ms"), _header("ms"))
    )


# -- serving ----------------------------------------------------------------------------


def _serve_rounds(
    env: Env,
    contenders: dict[str, list[str]],
    cases: Path,
    rounds: int,
    work: Path,
    only: str | None = None,
) -> dict[str, dict[str, dict]]:
    """{contender: {case: {"wall": [per-process median], "cpu": [...], "digest": ..,
    "error": ..}}}, contenders alternating process by process."""
    out: dict[str, dict[str, dict]] = {n: {} for n in contenders}
    result = work / "serve-result.json"
    for _ in range(rounds):
        for name, cmd in contenders.items():
            run_once(
                [
                    *cmd,
                    "--cases",
                    str(cases),
                    "--out",
                    str(result),
                    *(["--only", only] if only else []),
                ],
                {**env.child_env, **ONE_THREAD},
            )
            for case, r in json.loads(result.read_text()).items():
                _add_sample(out[name].setdefault(case, {"wall": [], "cpu": []}), r)
    return out


def _med(slot: dict | None, key: str = "wall") -> float | None:
    if not slot or slot.get("error") or not slot.get(key):
        return None
    return statistics.median(slot[key])


def _ms(slot: dict | None) -> str:
    value = _med(slot)
    if value is None:
        return "fails" if slot and slot.get("error") else "–"
    return f"{value * 1000:.2f} ({min(slot['wall']) * 1000:.2f}–{max(slot['wall']) * 1000:.2f})"


def _pct(slot: dict | None, base: dict | None, key: str = "wall") -> str:
    a, b = _med(slot, key), _med(base, key)
    return "–" if a is None or b is None else f"{(a / b - 1) * 100:+.0f}%"


def _paired_rounds(
    env: Env,
    python: Path,
    contenders: dict[str, Path],
    model: Path,
    cases: Path,
    rounds: int,
    work: Path,
) -> dict[str, dict[str, dict]]:
    """{contender or "raw": {case: slot}}: ``rounds`` processes, each running the raw model
    and every score.py with their calls interleaved."""
    cmd = [str(python), str(PEERS / "serve.py"), "--mode", "paired", "--model", str(model)]
    for name, art in contenders.items():
        cmd += ["--contender", f"{name}={art}"]
    out: dict[str, dict[str, dict]] = {}
    result = work / "paired-result.json"
    for _ in range(rounds):
        run_once(
            [*cmd, "--cases", str(cases), "--out", str(result)], {**env.child_env, **ONE_THREAD}
        )
        for key, r in json.loads(result.read_text()).items():
            case, name = key.rsplit("@", 1)
            _add_sample(out.setdefault(name, {}).setdefault(case, {"wall": [], "cpu": []}), r)
    return out


def _add_sample(slot: dict, r: dict) -> None:
    """One serving process's result for a case into its slot: the median call, or the error."""
    if "error" in r:
        slot["error"] = r["error"]
        return
    slot["wall"].append(statistics.median(r["seconds"]))
    slot["cpu"].append(statistics.median(r["cpu"]))
    slot["digest"] = r["digest"]


def _over(slot: dict | None, base: dict | None) -> str:
    """'12.34 (+5%)': the median, and how much over ``base``."""
    value = _med(slot)
    if value is None:
        return "fails" if slot and slot.get("error") else "–"
    return f"{value * 1000:.2f} ({_pct(slot, base)})"


def _ratio_str(peer: dict | None, ours: dict | None) -> str:
    a, b = _med(peer), _med(ours)
    return f"{a / b:.2f}x" if a and b else "–"


def bench_serve(env: Env, work: Path, runs: int, rounds: int = 5, **_: object) -> str:
    model, x, y = _iris(env, work)
    ours_art, ads_art = work / "art-mdreg", work / "art-ads"
    run_once(_mdreg_prepare(env, work, ours_art), env.child_env)
    run_once(_ads(env, "prepare", str(model), str(x), str(y), str(ads_art)), env.child_env)
    _fixture(env, "serve-cases", str(work))
    cases = work / "serve_cases.json"
    names = list(json.loads(cases.read_text()))
    both = {"mdreg": ours_art, "ADS": ads_art}
    paired_rounds = max(3, rounds // 2)
    same = _paired_rounds(env, env.ads, both, model, cases, paired_rounds, work)
    ours_env = _paired_rounds(env, Path(PY), both, model, cases, paired_rounds, work)

    serve = str(PEERS / "serve.py")
    separate = _serve_rounds(
        env,
        {
            "raw": [PY, serve, "--mode", "raw", "--model", str(model)],
            "mdreg score.py": [PY, serve, "--mode", "score", "--artifact", str(ours_art)],
            "raw (ADS venv)": [str(env.ads), serve, "--mode", "raw", "--model", str(model)],
            "mdreg score.py (ADS venv)": [
                str(env.ads),
                serve,
                "--mode",
                "score",
                "--artifact",
                str(ours_art),
            ],
            "ADS score.py (ADS venv)": [
                str(env.ads),
                serve,
                "--mode",
                "score",
                "--artifact",
                str(ads_art),
            ],
        },
        cases,
        rounds,
        work,
        only="rows/1,rows/10000",
    )

    reference = same["raw"]
    mismatched = sorted(
        {
            f"{name} {case}"
            for res in (same, ours_env, separate)
            for name, per_case in res.items()
            for case, slot in per_case.items()
            if slot.get("digest") and slot["digest"] != reference[case].get("digest")
        }
    )
    rows_same, rows_ours, targets = [], [], []
    for case in names:
        fmt, n = case.split("/")
        raw_a, md_a, ads_a = same["raw"][case], same["mdreg"][case], same["ADS"][case]
        raw_m, md_m, ads_m = ours_env["raw"][case], ours_env["mdreg"][case], ours_env["ADS"][case]
        rows_same.append(
            [fmt, n, _ms(raw_a), _over(md_a, raw_a), _over(ads_a, raw_a), _ratio_str(ads_a, md_a)]
        )
        rows_ours.append(
            [fmt, n, _ms(raw_m), _over(md_m, raw_m), _pct(md_m, raw_m, "cpu"), _over(ads_m, raw_m)]
        )
        if n == "10000" and _med(md_m) and _med(raw_m):
            targets.append(
                {
                    "target": f"score.py ≤ 10% over raw predict, 10,000 rows, `{fmt}` (mdreg venv)",
                    "overhead": _med(md_m) / _med(raw_m) - 1,
                    "overhead_cpu": _med(md_m, "cpu") / _med(raw_m, "cpu") - 1,
                    "goal": 0.10,
                }
            )
        target = f"score.py faster than ADS's, {n} row{'s' if n != '1' else ''}, `{fmt}`"
        if _med(ads_a) and _med(md_a):
            targets.append(
                {
                    "target": target,
                    "wall": _med(ads_a) / _med(md_a),
                    "cpu": _med(ads_a, "cpu") / _med(md_a, "cpu"),
                    "goal": 1.0,
                }
            )
        elif _med(md_a) and ads_a.get("error"):
            targets.append(
                {
                    "target": target,
                    "goal": 1.0,
                    "met": True,
                    "note": f"ADS's score.py fails on it ({ads_a['error'][:50]})",
                }
            )
    record("serve", targets)

    sep_rows = []
    for name, per_case in separate.items():
        sep_rows.append(
            [name]
            + [_ms(per_case.get(c)) for c in ("rows/1", "rows/10000")]
            + [
                f"{1 / _med(per_case.get('rows/1')):.0f}" if _med(per_case.get("rows/1")) else "–",
                f"{10000 / _med(per_case.get('rows/10000')):,.0f}"
                if _med(per_case.get("rows/10000"))
                else "–",
            ]
        )
    failures = sorted(
        {
            f"{name}: {case}: {slot['error'][:120]}"
            for res in (same, ours_env)
            for name, per_case in res.items()
            for case, slot in per_case.items()
            if slot.get("error")
        }
    )
    ads_v = _installed(env.ads, ["pandas", "numpy", "scikit-learn"])
    our_v = _installed(Path(PY), ["pandas", "numpy", "scikit-learn"])
    over = [t for t in targets if "overhead" in t]
    faster = [t for t in targets if "faster" in t["target"]]
    return (
        f"Targets: mdreg's score.py at most 10% over the raw `model.predict` at 10,000 rows: "
        f"{sum(t['overhead'] <= t['goal'] for t in over)} of {len(over)} request formats; "
        f"faster than ADS's score.py at both sizes: "
        f"{sum(bool(t.get('met')) or t.get('wall', 0) > 1 for t in faster)} of {len(faster)} cases.\n\n"
        "The request body is JSON-decoded as the server decodes it, outside the timed part, "
        "afresh for each call; `raw` is `model.predict(DataFrame)` on the same rows (the "
        "model was fitted on a DataFrame). Formats: `envelope` is what ADS's client sends "
        'for a DataFrame (`{"data": df.to_json(), "data_type": "<class '
        "'pandas.core.frame.DataFrame'>\"}`), `columns` a dict of lists, `rows` a list of "
        "lists, `records` a list of dicts. One thread (OMP_NUM_THREADS=1). Every answer is "
        "checked against the raw model's"
        + (f"; they differ for: {', '.join(mismatched)}" if mismatched else " (all the same)")
        + ".\n\n"
        f"**Ratios (the verdicts)**: the raw model and both score.py files in one process, "
        f"their calls interleaved (A B C, B C A, ...) so that each meets the same machine "
        f"state; median over {paired_rounds} such processes of each one's median call, ms "
        f"(spread), and the overhead over raw. In the ADS venv "
        f"({', '.join(f'{k} {v}' for k, v in ads_v.items())}), the same libraries for both, "
        f"as one conda pack would serve either:\n\n"
        + table(
            rows_same,
            ["format", "rows", "raw ms", "mdreg score.py ms", "ADS score.py ms", "ADS / mdreg"],
        )
        + f"\n\nIn mdreg's venv ({', '.join(f'{k} {v}' for k, v in our_v.items())}):\n\n"
        + table(
            rows_ours,
            [
                "format",
                "rows",
                "raw ms",
                "mdreg score.py ms",
                "mdreg over raw (CPU)",
                "ADS score.py ms",
            ],
        )
        + f"\n\n**Latency and throughput, each in its own process** (format `rows`; median over "
        f"{rounds} alternating processes of each one's median call, ms (spread); one process, "
        "one thread):\n\n"
        + table(
            sep_rows,
            [
                "contender",
                "1 row ms",
                "10,000 rows ms",
                "requests/s at 1 row",
                "rows/s at 10,000 rows",
            ],
        )
        + ("\n\nFailures: " + "; ".join(failures) if failures else "")
    )


# -- zip --------------------------------------------------------------------------------


def bench_zip(
    env: Env,
    work: Path,
    runs: int,
    sizes: tuple[float, ...] = (1, 4),
    zip_runs: int = 3,
    **_: object,
) -> str:
    rows, targets, notes = [], [], []
    for gib in sizes:
        need = gib * 3.2 * 2**30  # the artifact and two zips at once, at worst
        free = shutil.disk_usage(work).free
        if free < need:
            notes.append(
                f"{gib:g} GiB skipped: {free / 2**30:.0f} GiB free under {work}, "
                f"{need / 2**30:.0f} GiB needed"
            )
            continue
        art = work / f"art-{gib:g}g"
        run_once(_mdreg_prepare(env, work, art), env.child_env)
        _fixture(env, "big", str(art), str(gib))
        a, b = work / "mdreg.zip", work / "ads.zip"
        clean = {
            "mdreg zip": lambda a=a: a.unlink(missing_ok=True),
            "ADS zip_artifact": lambda b=b: b.unlink(missing_ok=True),
        }
        zip_env = {**env.child_env, "TMPDIR": str(work)}  # ADS zips into a temp file
        stats = compare(
            {
                "mdreg zip": [*MDREG, "zip", str(art), "-o", str(a), "-q"],
                "ADS zip_artifact": _ads(env, "zip", str(art), str(b)),
            },
            zip_env,
            runs=zip_runs,
            warmup=0,
            before=clean,
        )
        size_mb = sum(p.stat().st_size for p in art.rglob("*") if p.is_file()) / 2**20
        for name, s in stats.items():
            inner = f"{statistics.median(s.inner):.1f}" if s.inner else "–"
            rows.append(
                [
                    f"{gib:g} GiB",
                    name,
                    f"{s.median:.1f}",
                    s.spread,
                    inner,
                    f"{size_mb / s.median:.0f}",
                    f"{s.rss_mb:.0f}",
                ]
            )
        ours, ads = stats["mdreg zip"], stats["ADS zip_artifact"]
        targets.append(
            {
                "target": f"zip {gib:g} GiB at least as fast as ADS",
                "wall": ads.median / ours.median,
                "cpu": ads.cpu_median / ours.cpu_median,
                "goal": 1.0,
                "rss_mb": ours.rss_mb,
            }
        )
        shutil.rmtree(art)
        a.unlink(missing_ok=True)
        b.unlink(missing_ok=True)
    rss = [t["rss_mb"] for t in targets]
    flat = len(rss) > 1 and max(rss) - min(rss) <= 16
    if len(rss) > 1:
        targets.append(
            {
                "target": "zip peak RSS independent of the model size",
                "note": " vs ".join(f"{r:.0f} MB" for r in rss),
                "goal": None,
                "met": flat,
            }
        )
    record("zip", targets)
    fast = all(t["wall"] >= 1 for t in targets if "wall" in t)
    return (
        "Targets: `mdreg zip` at least as fast as ADS's zip path "
        "(`ads.model.common.utils.zip_artifact`, what `save()` and the uploaders call), "
        f"{_verdict(fast)}; peak RSS independent of the model size, "
        f"{_verdict(flat) if len(rss) > 1 else 'needs two sizes'}.\n\n"
        "The artifact is an iris artifact plus `weights.bin` of random bytes. Both store "
        "it uncompressed; ADS reads every file twice (sha256 for its manifest, then the "
        "zip), mdreg reads each once and hashes the zip behind the writer, then fsyncs. "
        "Whole process (ADS's includes `import ads`; `in-process s` is ADS's own timing "
        "of `zip_artifact`).\n\n"
        + table(
            rows,
            ["model", "command", "median s", "spread s", "in-process s", "MB/s", "peak RSS MB"],
        )
        + ("\n\n" + "; ".join(notes) if notes else "")
    )


# -- PyTorch ----------------------------------------------------------------------------


def bench_torch(env: Env, work: Path, runs: int, rounds: int = 5, **_: object) -> str:
    _fixture(env, "cnn", str(work))
    art = work / "art-cnn"
    base = [*MDREG, "prepare", str(work / "cnn.pt"), "-o", str(art), "--force"]
    attempts = [
        ("--x-sample cnn_x.npy", [*base, "--x-sample", str(work / "cnn_x.npy")]),
        ("--x-sample cnn_x.npy --trust", [*base, "--x-sample", str(work / "cnn_x.npy"), "--trust"]),
        ("no sample", base),
        ("no sample, --trust", [*base, "--trust"]),
    ]
    used, errors = None, []
    for label, cmd in attempts:
        try:
            run_once(cmd, env.child_env)
            used = label
            break
        except RuntimeError as exc:
            lines = [x for x in str(exc).strip().splitlines() if not x.startswith("@@time")]
            errors.append(f"`{label}`: {(lines or ['?'])[-1][:300]}")
    if used is None:
        record(
            "torch",
            [
                {
                    "target": "PyTorch score.py overhead (no target set)",
                    "note": "not measured: `mdreg prepare` of a TorchScript file failed",
                    "goal": None,
                    "met": None,
                }
            ],
        )
        return (
            "Not measured: `mdreg prepare` of a TorchScript file failed (the PyTorch "
            "plugin is being finished):\n\n- " + "\n- ".join(errors)
        )
    cases = work / "cnn_cases.json"
    serve = str(PEERS / "serve.py")
    res = _serve_rounds(
        env,
        {
            "raw": [PY, serve, "--mode", "torch-raw", "--model", str(work / "cnn.pt")],
            "mdreg score.py": [PY, serve, "--mode", "score", "--artifact", str(art)],
        },
        cases,
        rounds,
        work,
    )
    rows, targets = [], []
    for case in json.loads(cases.read_text()):
        n = case.split("/")[1]
        raw, handler, ours = (
            res["raw"].get(case),
            res["raw"].get(case + ":handler"),
            res["mdreg score.py"].get(case),
        )
        same = ours and raw and ours.get("digest") == raw.get("digest")
        rows.append(
            [
                n,
                _ms(raw),
                _ms(handler),
                _ms(ours),
                _pct(ours, raw),
                _pct(ours, handler),
                "yes" if same else "NO",
            ]
        )
        if _med(ours) and _med(raw):
            targets.append(
                {
                    "target": f"PyTorch score.py over raw forward, batch {n} (no target set)",
                    "overhead": _med(ours) / _med(raw) - 1,
                    "overhead_cpu": _med(ours, "cpu") / _med(raw, "cpu") - 1,
                    "goal": None,
                }
            )
    record("torch", targets)
    prepared = f"`mdreg prepare cnn.pt` with {used}" + (
        f" (before it: {'; '.join(errors)})" if errors else ""
    )
    return (
        f"A small CNN (2 conv layers, 10 classes, input 3x32x32) saved with "
        f"`torch.jit.save`; {prepared}. CPU, one thread. Requests are JSON lists of "
        f"shape (N, 3, 32, 32), decoded as the server does, outside the timed part. "
        f"`raw` is `model(tensor)` under inference_mode on a ready float32 tensor; "
        f"`minimal handler` is the least any handler does with the decoded list "
        f"(`np.asarray(float32)`, forward, `.tolist()`). Median over {rounds} "
        f"alternating processes of each process's median call, ms (spread). GPU "
        f"numbers come from `scripts/gpu-check.sh` on a lent device.\n\n"
        + table(
            rows,
            [
                "batch",
                "raw forward ms",
                "minimal handler ms",
                "mdreg score.py ms",
                "over raw",
                "over minimal handler",
                "same output",
            ],
        )
    )


# ---------------------------------------------------------------------------------------
# Summary and set-up sections


def summary_section() -> str:
    data = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    rows = []
    for job in ("startup", "prepare", "introspect", "serve", "zip", "torch"):
        for t in data.get(job, {}).get("rows", []):
            if "overhead" in t:
                measured = f"{t['overhead'] * 100:+.0f}% wall, {t['overhead_cpu'] * 100:+.0f}% CPU"
                met = None if t["goal"] is None else t["overhead"] <= t["goal"]
            elif "wall" in t:
                measured = f"{t['wall']:.1f}x wall, {t['cpu']:.1f}x CPU"
                met = None if t["goal"] is None else t["wall"] >= t["goal"]
            else:
                measured, met = t.get("note", ""), t.get("met")
            verdict = "–" if met is None else _verdict(bool(met))
            rows.append([t["target"], measured, verdict, data[job]["when"]])
    return (
        "Each ratio is peer time / mdreg time in the same run (higher is better for "
        "mdreg); overheads are mdreg's score.py over the raw model. Verdicts go by wall "
        "time; CPU time (user + sys) is shown because this 2-core machine is shared and "
        "wall time swings with the neighbours' load. Details in the sections below.\n\n"
        + table(rows, ["target", "measured", "verdict", "run"])
    )


def setup_section(env: Env) -> str:
    ours = _installed(Path(PY), ["mdreg", "scikit-learn", "pandas", "numpy", "torch", "typer"])
    ads = _installed(env.ads, ["oracle-ads", "oci", "scikit-learn", "pandas", "numpy"])
    mlf = _installed(env.mlflow, ["mlflow", "scikit-learn", "pandas", "numpy", "skops"])

    def fmt(d: dict[str, str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items())

    return (
        "`make bench-peers` (`python benchmarks/peers.py`): venvs made once, cached outside "
        f"the repository under `$MDREG_BENCH_CACHE` (default `~/.cache/mdreg-bench`), or "
        "`$MDREG_BENCH_ADS_VENV` / `$MDREG_BENCH_MLFLOW_VENV`.\n\n"
        f"- mdreg venv: {fmt(ours)}\n- ADS venv: {fmt(ads)}\n- MLflow venv: {fmt(mlf)}\n\n"
        "ADS offline (benchmarks/peers/ads_offline.py, imported first by the ADS jobs, in "
        "the ADS venv only; each patch answers as the service would, so ADS skips only the "
        "round trip and its times here are a lower bound):\n\n"
        "1. `ads.model.runtime.utils._get_index_json_through_bucket` returns a one-entry "
        "service-pack index (slug `generalml_p311_cpu_x86_64_v1`, Python 3.11) instead of "
        "reading `oci://service-conda-packs@id19sfcrra6z/service_pack/index.json`: prepare "
        "resolves the conda slug through it.\n"
        "2. `requests.request` answers the validator's GET of the same index.json (its "
        "public pre-authenticated URL) with that index, so `runtime_path_exist` passes as "
        "online; any other URL raises ConnectionError.\n"
        "3. Not a patch: ADS builds OCI clients and an API-key signer when a model object "
        "is created, and fails without `~/.oci/config`; a dummy config and RSA key are "
        "written to the cache and `OCI_CONFIG_LOCATION` points at them. Nothing is sent "
        "(checked with strace: no connect() calls during prepare).\n\n"
        "Conditions: every process runs with bytecode (this machine sets "
        "PYTHONDONTWRITEBYTECODE=1, under which the editable mdreg would recompile its "
        "modules on every run while the peers read the .pyc files pip wrote; mdreg is "
        "compiled once first). 2 shared cores, other engineers' tests running: every "
        "number is a median over alternating runs, with its spread; compare the ratios."
    )


# ---------------------------------------------------------------------------------------

BENCHES: dict[str, Callable[..., str]] = {
    "peers-startup": bench_startup,
    "peers-prepare": bench_prepare,
    "peers-introspect": bench_introspect,
    "peers-serve": bench_serve,
    "peers-zip": bench_zip,
    "peers-torch": bench_torch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=None, help=f"comma-separated jobs [default: all]: {', '.join(BENCHES)}"
    )
    parser.add_argument("--runs", type=int, default=7, help="runs of each whole-process command")
    parser.add_argument("--rounds", type=int, default=5, help="processes per serving contender")
    parser.add_argument("--zip-sizes", default="1,4", help="GiB sizes for the zip job")
    parser.add_argument("--zip-runs", type=int, default=3)
    parser.add_argument("--setup-only", action="store_true", help="make the venvs and stop")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    args = parser.parse_args()
    from run import write_section  # run.py imports harness too

    names = [
        n if n.startswith("peers-") else f"peers-{n}"
        for n in (args.only.split(",") if args.only else BENCHES)
    ]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    env = Env.setup(
        need_mlflow=any(n in ("peers-startup", "peers-prepare") for n in names) or args.setup_only
    )
    if args.setup_only:
        print(setup_section(env))
        return
    global RECORD
    RECORD = not args.no_write
    write = (lambda name, body: None) if args.no_write else write_section
    write("peers-setup", setup_section(env))
    kwargs = {
        "rounds": args.rounds,
        "zip_runs": args.zip_runs,
        "sizes": tuple(float(s) for s in args.zip_sizes.split(",")),
    }
    with tempfile.TemporaryDirectory(prefix="mdreg-peers-") as tmp:
        for name in names:
            work = Path(tmp) / name
            work.mkdir()
            started = time.perf_counter()
            body = BENCHES[name](env, work, args.runs, **kwargs)
            body += f"\n\n_{time.perf_counter() - started:.0f} s for this job._"
            write(name, body)
            print(f"## {name}\n{body}\n", flush=True)
            shutil.rmtree(work, ignore_errors=True)
    summary = summary_section()
    write("peers", summary)
    print(f"## peers\n{summary}", flush=True)


if __name__ == "__main__":
    main()
