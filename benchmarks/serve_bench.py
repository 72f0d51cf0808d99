"""`mdreg serve` against MLflow's and BentoML's model servers and the raw model:
`make bench-serve`, or

    python benchmarks/serve_bench.py [--only serve,serve-servers] [--rounds N]
        [--warmup S] [--duration S] [--concurrency 1,8,32] [--workers N]
        [--no-profile] [--no-write] [--keep] [--render [JSON]]

Sections of benchmarks/RESULTS.md (run.py's write_section), raw numbers in
benchmarks/results/serve.json (saved before the sections are written: `--render`
rewrites them from it without measuring; `--keep` keeps the work folder, servers' logs
and its own report.json):

  serve          requests/s and p50/p99 latency at each concurrency, for three cases: a
                 scikit-learn RandomForestClassifier (100 trees, 20 float columns) with 1
                 and 1,000 rows per JSON request, and a small PyTorch CNN (two conv
                 layers, 3x32x32) with a batch of 16. Contenders, in one session on the
                 same model and rows: the raw model in process (the floor); `mdreg serve`
                 on `mdreg prepare`'s artifact (a dict of columns; the CNN as .npy);
                 `mlflow models serve --env-manager local` on the model saved with
                 mlflow.sklearn / mlflow.pytorch (dataframe_split; the CNN as its
                 `inputs` tensor JSON: MLflow's server takes JSON and CSV, not .npy);
                 `bentoml serve` of a minimal service around the same model (its JSON
                 arguments; the CNN as an np.ndarray argument, JSON lists). Every server
                 runs --workers N (default 2) model processes. Then the targets, a
                 breakdown of mdreg's latency at 1 row, and (with py-spy) where mdreg's
                 front and workers spend their CPU.
  serve-servers  the HTTP front alone: a trivial ASGI app under uvicorn with httptools +
                 uvloop (what mdreg's serve extra installs), under uvicorn with h11 +
                 asyncio (what MLflow and BentoML install), under granian; and mdreg's
                 own App with a trivial score.py under uvicorn (`mdreg serve`) and under
                 granian. One process each, one model worker for mdreg.

The load generator (serve_load.py) is none of the contenders: its own process, raw
asyncio streams, HTTP/1.1 keep-alive, a fixed number of connections, a warm-up, then
--duration seconds. Contenders are interleaved: each round runs every contender once
at each case and concurrency, the order rotating between rounds, and the table gives
the median over rounds. These machines are shared (2 cores, other jobs running): the
load average is recorded at the start and the end; compare ratios from one run.

The peers live in cached venvs beside peers.py's ($MDREG_BENCH_CACHE, default
~/.cache/mdreg-bench): peers.py's mlflow-venv (torch==2.13.0 added for mlflow.pytorch),
bentoml-venv, and py-spy-venv (the profiler, optional). The first run installs them
(minutes). Every server and the raw floor get one BLAS/OpenMP/torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import MDREG, machine, now, table  # noqa: E402
from peers import (  # noqa: E402
    CACHE,
    CONSTRAINTS,
    MLFLOW_REQUIREMENTS,
    MLFLOW_VENV,
    ONE_THREAD,
    _installed,
    ensure_venv,
)

PY = sys.executable
RESULTS_JSON = HERE / "results" / "serve.json"
BENTOML_VENV = Path(os.environ.get("MDREG_BENCH_BENTOML_VENV", CACHE / "bentoml-venv")).expanduser()
PYSPY_VENV = CACHE / "py-spy-venv"
BENTOML_REQUIREMENTS = ["bentoml==1.4.40", "scikit-learn==1.9.1", "pandas==3.1.1", "torch==2.13.0"]
MLFLOW_EXTRA = ["torch==2.13.0"]  # mlflow.pytorch; installed into peers.py's MLflow venv
PYSPY_REQUIREMENTS = ["py-spy==0.4.3"]
GRANIAN = Path(PY).parent / "granian"
MDREG_TRIVIAL = "mdreg serve, trivial score.py"

CASES = {  # case -> what the table calls it
    "rf-1": "RandomForest, 1 row (JSON)",
    "rf-1000": "RandomForest, 1,000 rows (JSON)",
    "cnn-16": "CNN, batch 16 (mdreg: .npy; others: JSON)",
}
MDREG_NAME, MLFLOW_NAME, BENTO_NAME, RAW_NAME = (
    "mdreg serve",
    "mlflow models serve",
    "bentoml serve",
    "raw model.predict",
)

TRIVIAL_SCORE = '''"""A score.py whose model costs nothing: the server alone is measured."""


def predict(data):
    return {"prediction": [0]}
'''


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _log(message: str) -> None:
    print(f"[serve_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Environments


def ensure_extra(python: Path, requirements: list[str]) -> None:
    """pip install ``requirements`` (name==version) into a venv that lacks them."""
    have = _installed(python, [r.split("==")[0] for r in requirements])
    missing = [
        r for r in requirements if have.get(r.split("==")[0], "").split("+")[0] != r.split("==")[1]
    ]
    if missing:
        _log(f"installing {' '.join(missing)} into {python.parent.parent}")
        constraints = CACHE / "constraints.txt"
        constraints.write_text("\n".join(CONSTRAINTS) + "\n")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *missing, "-c", str(constraints)],
            check=True,
        )


@dataclass
class Peers:
    mlflow: Path  # the venvs' bin folders
    bentoml: Path
    pyspy: Path | None

    @classmethod
    def setup(cls, profile: bool) -> Peers:
        mlflow = ensure_venv(MLFLOW_VENV, MLFLOW_REQUIREMENTS)
        ensure_extra(mlflow, MLFLOW_EXTRA)
        bentoml = ensure_venv(BENTOML_VENV, BENTOML_REQUIREMENTS)
        pyspy = None
        if profile:
            try:
                pyspy = ensure_venv(PYSPY_VENV, PYSPY_REQUIREMENTS).parent / "py-spy"
            except subprocess.CalledProcessError as exc:
                _log(f"py-spy could not be installed ({exc}): no profile")
        return cls(mlflow.parent, bentoml.parent, pyspy)

    def versions(self) -> dict[str, dict[str, str]]:
        return {
            "mdreg venv": _installed(
                Path(PY),
                ["mdreg", "uvicorn", "httptools", "uvloop", "granian", "scikit-learn", "torch"],
            ),
            "mlflow venv": _installed(
                self.mlflow / "python",
                ["mlflow", "uvicorn", "fastapi", "httptools", "uvloop", "scikit-learn", "torch"],
            ),
            "bentoml venv": _installed(
                self.bentoml / "python",
                ["bentoml", "uvicorn", "starlette", "httptools", "uvloop", "scikit-learn", "torch"],
            ),
        }


def child_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        **ONE_THREAD,
        "PYTHONDONTWRITEBYTECODE": "",  # every contender reads (and writes) bytecode
        "MLFLOW_TRACKING_URI": "",
        "GIT_PYTHON_REFRESH": "quiet",
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(CACHE / "bentoml-home"),
        **extra,
    }
    if bin_dir is not None:  # `mlflow models serve` runs `uvicorn` from PATH
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


# ---------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(
    port: int, path: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Content-Type": ctype} if body is not None else {},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    path: str  # the predict path
    health: str
    bodies: dict[str, tuple[Path, str]]  # case -> (body file, content type)
    answer: Callable[[object], object]  # the answer document -> the predictions
    cwd: Path | None = None
    workers: int | None = None  # /health lists this many workers when all are loaded
    port: int = 0
    log: Path | None = None
    proc: subprocess.Popen | None = None
    cmd_shown: str = ""

    def start(self, logs: Path) -> None:
        self.port = free_port()
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        self.cmd_shown = " ".join(cmd)
        self.log = logs / f"{self.name.split()[0]}-{self.port}.log"
        _log(f"starting {self.name}: {self.cmd_shown}")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all of it
            )

    def wait_ready(self, timeout_s: float = 300) -> float:
        assert self.proc is not None
        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log_tail()}")
            try:
                status, body = http(self.port, self.health)
            except OSError:
                status, body = 0, b""
            if status == 200 and (
                self.workers is None or len(json.loads(body).get("workers", [])) >= self.workers
            ):
                return time.perf_counter() - start
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
        return text[-2000:]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_all(servers: list[Server], logs: Path) -> dict[str, float]:
    """Start every server, then wait for each: they load their models side by side."""
    for s in servers:
        s.start(logs)
    return {s.name: round(s.wait_ready(), 2) for s in servers}


def check_answers(servers: list[Server], expected: dict[str, list]) -> dict[str, dict[str, bool]]:
    """One request per server and case: do they all give the raw model's predictions?"""
    import numpy as np

    same: dict[str, dict[str, bool]] = {}
    for s in servers:
        for case, (body, ctype) in s.bodies.items():
            status, answer = http(s.port, s.path, body.read_bytes(), ctype)
            if status != 200:
                raise RuntimeError(f"{s.name} answered {status} for {case}: {answer[:500]!r}")
            got = np.asarray(s.answer(json.loads(answer)), dtype=float)
            want = np.asarray(expected[case], dtype=float)
            ok = got.shape == want.shape and bool(np.allclose(got, want, atol=1e-4))
            same.setdefault(case, {})[s.name] = ok
            if not ok:
                _log(f"WARNING: {s.name} answered {case} differently from the raw model")
    return same


# ---------------------------------------------------------------------------------------
# Load


@dataclass
class Load:
    warmup: float
    duration: float
    loop: str
    work: Path
    count: int = 0

    def run(self, port: int, path: str, body: Path, ctype: str, conc: int, warmup=None) -> dict:
        self.count += 1
        out = self.work / f"load-{self.count}.json"
        warm = self.warmup if warmup is None else warmup
        opts = f"--port {port} --path {path} --concurrency {conc} --warmup {warm}"
        opts += f" --duration {self.duration} --loop {self.loop}"
        cmd = [PY, str(HERE / "serve_load.py"), *opts.split(), "--content-type", ctype]
        cmd += ["--body", str(body), "--out", str(out)]
        subprocess.run(cmd, check=True, timeout=warm + self.duration + 300)
        result = json.loads(out.read_text())
        if result["errors"]:
            _log(f"errors at port {port}, c={conc}: {result['errors']}")
        return result


def div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def median_of(runs: list[dict], key: str) -> float:
    values = [r[key] for r in runs if key in r and r[key] == r[key]]  # no NaN
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------
# Fixtures


def fixtures(work: Path, peers: Peers) -> None:
    fx = str(HERE / "serve_fixtures.py")
    env = child_env()
    _log("making the models and request bodies")
    subprocess.run([PY, fx, "make", str(work)], check=True, env=env)
    subprocess.run(
        [str(peers.mlflow / "python"), fx, "mlflow", str(work)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prepare = [*MDREG, "prepare", "--force"]
    rf = [str(work / "rf.joblib"), "-o", str(work / "art-rf"), "--x-sample", str(work / "rf_x.csv")]
    subprocess.run([*prepare, *rf], check=True, env=env, stdout=subprocess.DEVNULL)
    cnn = [str(work / "cnn_weights.pt"), "-o", str(work / "art-cnn"), "--x-sample"]
    cnn += [str(work / "cnn_x.npy"), "--model-code", str(work / "bench_cnn.py")]
    cnn += ["--model-class", "bench_cnn:SmallCNN"]
    subprocess.run([*prepare, *cnn], check=True, env=env, stdout=subprocess.DEVNULL, cwd=work)
    (work / "bento").mkdir(exist_ok=True)
    shutil.copy(HERE / "serve_bento.py", work / "bento" / "service.py")
    (work / "art-trivial").mkdir(exist_ok=True)
    (work / "art-trivial" / "score.py").write_text(TRIVIAL_SCORE)


def model_servers(group: str, work: Path, peers: Peers, workers: int) -> list[Server]:
    """mdreg, MLflow and BentoML serving the forest (group "rf") or the CNN ("cnn")."""
    w = str(workers)
    if group == "rf":
        cases = [c for c in CASES if c.startswith("rf-")]
        mdreg_bodies = {c: (work / f"rf_{c[3:]}.mdreg.json", "application/json") for c in cases}
        peer_body = {c: f"rf_{c[3:]}" for c in cases}
        bento_service = "service:RandomForest"
    else:
        cases = [c for c in CASES if c.startswith("cnn-")]
        mdreg_bodies = {c: (work / f"cnn_{c[4:]}.npy", "application/x-npy") for c in cases}
        peer_body = {c: f"cnn_{c[4:]}" for c in cases}
        bento_service = "service:SmallCNN"
    mdreg = [*MDREG, "serve", str(work / f"art-{group}"), "--port", "{port}", "--workers", w]
    mlflow = [str(peers.mlflow / "mlflow"), "models", "serve", "-m", str(work / f"mlflow-{group}")]
    mlflow += ["--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}", "--workers", w]
    bento = [str(peers.bentoml / "bentoml"), "serve", bento_service]
    bento += ["--host", "127.0.0.1", "--port", "{port}"]
    return [
        Server(
            MDREG_NAME,
            mdreg,
            child_env(),
            "/predict",
            "/health",
            mdreg_bodies,
            lambda doc: doc["prediction"],
            workers=workers,
        ),
        Server(
            MLFLOW_NAME,
            mlflow,
            child_env(peers.mlflow),
            "/invocations",
            "/ping",
            {c: (work / f"{b}.mlflow.json", "application/json") for c, b in peer_body.items()},
            lambda doc: doc["predictions"],
        ),
        Server(
            BENTO_NAME,
            bento,
            child_env(peers.bentoml, SERVE_BENCH_WORK=str(work), SERVE_BENCH_WORKERS=w),
            "/predict",
            "/readyz",
            {c: (work / f"{b}.bentoml.json", "application/json") for c, b in peer_body.items()},
            lambda doc: doc,
            cwd=work / "bento",
        ),
    ]


# ---------------------------------------------------------------------------------------
# The raw floor and score.py's own work


def raw_runs(work: Path, case: str, seconds: float, processes: int) -> dict:
    """``processes`` raw loops side by side: calls/s summed, per-call latency medians."""
    fx = str(HERE / "serve_fixtures.py")
    outs = [work / f"raw-{case}-{processes}-{i}.json" for i in range(processes)]
    procs = [
        subprocess.Popen([PY, fx, "raw", str(work), case, str(seconds), str(o)], env=child_env())
        for o in outs
    ]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"the raw {case} job failed")
    docs = [json.loads(o.read_text()) for o in outs]
    return {
        "processes": processes,
        "rps": sum(d["rps"] for d in docs),
        "p50_ms": statistics.median(d["p50_ms"] for d in docs),
        "p99_ms": max(d["p99_ms"] for d in docs),
        "same": all(d["same"] for d in docs),
        **(
            {"array_p50_ms": statistics.median(d["array_p50_ms"] for d in docs)}
            if all("array_p50_ms" in d for d in docs)
            else {}
        ),
    }


def paired_run(work: Path, port: int, case: str, seconds: float) -> dict:
    out = work / f"paired-{case}.json"
    cmd = [PY, str(HERE / "serve_fixtures.py"), "paired", str(work), str(port), case]
    cmd += [str(seconds), str(out)]
    subprocess.run(cmd, check=True, env=child_env())
    return json.loads(out.read_text())


def stage_run(work: Path, case: str, seconds: float) -> dict:
    art = work / ("art-rf" if case.startswith("rf-") else "art-cnn")
    out = work / f"stages-{case}.json"
    cmd = [PY, str(HERE / "serve_fixtures.py"), "stages", str(work), str(art), case]
    cmd += [str(seconds), str(out)]
    subprocess.run(cmd, check=True, env=child_env(), stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------------------
# Profile


def profile_mdreg(
    pyspy: Path, server: Server, load: Load, case: str, conc: int, work: Path
) -> dict | None:
    """py-spy on mdreg's server process and its workers during one load run: the CPU
    samples of each (idle time is not sampled), by function."""
    assert server.proc is not None
    out = work / "pyspy.txt"
    seconds = load.warmup + load.duration
    opts = f"record --pid {server.proc.pid} --subprocesses --format raw --rate 250"
    opts += f" --duration {int(seconds + 1)} --nonblocking"
    cmd = [str(pyspy), *opts.split(), "--output", str(out)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    body, ctype = server.bodies[case]
    run = load.run(server.port, server.path, body, ctype, conc)
    _, err = spy.communicate(timeout=120)
    if spy.returncode != 0 or not out.exists():
        _log(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
        return None
    return {**summarize_profile(out.read_text(), server.proc.pid, run), "seconds": seconds + 1}


def summarize_profile(text: str, front_pid: int, run: dict) -> dict:
    """Collapsed stacks -> per role (front: the server process; worker: the rest) the
    samples and the functions that hold the most of them (self and inclusive)."""
    roles: dict[str, dict] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        pid = None
        while frames and frames[0].startswith("process "):  # the parent chain, then the pid
            pid = int(frames[0].split()[1].split(":")[0])
            frames = frames[1:]
        frames = [f for f in frames if not f.startswith("thread ")]
        role = "front" if pid == front_pid else "worker"
        r = roles.setdefault(role, {"samples": 0, "self": {}, "incl": {}})
        n = int(count)
        r["samples"] += n
        if frames:
            leaf = _frame_name(frames[-1])
            r["self"][leaf] = r["self"].get(leaf, 0) + n
        for name in {_frame_name(f) for f in frames}:
            r["incl"][name] = r["incl"].get(name, 0) + n
    for r in roles.values():
        r["self"] = sorted(r["self"].items(), key=lambda kv: -kv[1])[:12]
        r["incl"] = sorted(r["incl"].items(), key=lambda kv: -kv[1])[:40]
    return {"roles": roles, "run": run}


def _frame_name(frame: str) -> str:
    """'predict (/x/score.py:12)' -> 'predict (score.py)'."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({Path(file).name})" if file else name


# ---------------------------------------------------------------------------------------
# serve


def bench_serve(args, work: Path, peers: Peers, load: Load, report: dict) -> None:
    expected = json.loads((work / "expected.json").read_text())
    concs = args.concurrency
    results: dict[str, dict[str, dict[int, list[dict]]]] = {}
    raw: dict[str, dict[str, list[dict]]] = {}
    answers: dict[str, dict[str, bool]] = {}
    ready_s: dict[str, dict[str, float]] = {}
    stages: dict[str, list[dict]] = {}
    paired: list[dict] = []
    profile = None
    for group in ("rf", "cnn"):
        cases = [c for c in CASES if c.startswith(group + "-")]
        servers = model_servers(group, work, peers, args.workers)
        try:
            ready_s[group] = start_all(servers, work)
            answers.update(check_answers(servers, expected))
            for s in servers:  # every worker loaded and warm before anything is timed
                body, ctype = s.bodies[cases[0]]
                load.run(s.port, s.path, body, ctype, 2 * args.workers, warmup=args.prime)
            for rnd in range(args.rounds):
                order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
                for case in cases:
                    _log(f"round {rnd + 1}/{args.rounds}: {case}")
                    slot = raw.setdefault(case, {"1": [], "n": []})
                    slot["1"].append(raw_runs(work, case, args.duration, 1))
                    slot["n"].append(raw_runs(work, case, args.duration, args.workers))
                    stages.setdefault(case, []).append(stage_run(work, case, args.duration))
                    if case == "rf-1":
                        paired.append(paired_run(work, servers[0].port, case, args.duration))
                    for conc in concs:
                        for s in order:
                            body, ctype = s.bodies[case]
                            run = load.run(s.port, s.path, body, ctype, conc)
                            results.setdefault(case, {}).setdefault(s.name, {}).setdefault(
                                conc, []
                            ).append(run)
            if group == "rf" and peers.pyspy is not None:
                _log("profiling mdreg serve (py-spy)")
                profile = profile_mdreg(peers.pyspy, servers[0], load, "rf-1", 8, work)
        finally:
            for s in servers:
                s.stop()
    report["serve"] = {
        "results": {
            case: {name: {str(c): runs for c, runs in by.items()} for name, by in d.items()}
            for case, d in results.items()
        },
        "raw": raw,
        "answers_match": answers,
        "ready_s": ready_s,
        "stages": stages,
        "paired": paired,
        "profile": profile,
        "loadavg_end": os.getloadavg(),
    }


def _cell(runs: list[dict] | None) -> list[str]:
    if not runs:
        return ["–", "–", "–"]
    return [
        f"{median_of(runs, 'rps'):,.0f}",
        f"{median_of(runs, 'p50_ms'):.2f}",
        f"{median_of(runs, 'p99_ms'):.2f}",
    ]


def overhead(results, raw, stages, paired, report, c: int) -> dict:
    """mdreg's per-request cost over the raw predict at 1 row: the whole (served p50 − the
    lower raw p50; paired) and its parts (the server path with a free model + score.py's
    own work, both cheap to measure precisely)."""
    nan = float("nan")
    frame = median_of(raw["rf-1"]["1"], "p50_ms")
    array = median_of(raw["rf-1"]["1"], "array_p50_ms")
    floor = min(x for x in (frame, array) if x == x)
    served = median_of(results["rf-1"][MDREG_NAME][c], "p50_ms")
    return {
        "value": served - floor,
        "served_p50_ms": served,
        "floor_p50_ms": floor,
        "frame_p50_ms": frame,
        "array_p50_ms": array,
        "paired_ms": median_of(paired, "diff_p50_ms"),
        "server_ms": front_summary(report).get("mdreg_c1_p50", nan),
        "score_ms": median_of(stages.get("rf-1", []), "diff_p50_ms"),
    }


def serve_section(report: dict) -> str:
    args = argparse.Namespace(**report["settings"])
    sv = report["serve"]
    results = {
        case: {name: {int(c): runs for c, runs in by.items()} for name, by in d.items()}
        for case, d in sv["results"].items()
    }
    raw, answers, stages = sv["raw"], sv["answers_match"], sv["stages"]
    paired, profile = sv["paired"], sv["profile"]
    concs = args.concurrency
    w = args.workers
    header = ["case", "contender"]
    for c in concs:
        header += [f"c={c} req/s", f"c={c} p50 ms", f"c={c} p99 ms"]
    rows = []
    for case, label in CASES.items():
        if case not in results:
            continue
        r = raw[case]
        raw_row = [label, f"{RAW_NAME}, in process"]
        for c in concs:
            raw_row += _cell(r["1"] if c == 1 else r["n"])
        rows.append(raw_row)
        for name in (MDREG_NAME, MLFLOW_NAME, BENTO_NAME):
            row = [
                "",
                name + ("" if answers.get(case, {}).get(name, True) else " (ANSWERS DIFFER)"),
            ]
            for c in concs:
                row += _cell(results[case].get(name, {}).get(c))
            rows.append(row)

    def rps(case, name, c):
        return median_of(results[case][name][c], "rps")

    def p(case, name, c, q):
        return median_of(results[case][name][c], f"p{q}_ms")

    ratio_rows = []
    for case in results:
        for c in concs:
            m = rps(case, MDREG_NAME, c)
            ratio_rows.append(
                [
                    case,
                    str(c),
                    f"{div(m, rps(case, MLFLOW_NAME, c)):.2f}x",
                    f"{div(m, rps(case, BENTO_NAME, c)):.2f}x",
                    f"{div(m, median_of(raw[case]['1' if c == 1 else 'n'], 'rps')):.2f}",
                ]
            )
    targets = []
    lines = []
    c8 = 8 if 8 in concs else concs[len(concs) // 2]
    c_lo, c_hi = min(concs), max(concs)
    if "rf-1" in results:
        vs_mlflow = div(rps("rf-1", MDREG_NAME, c8), rps("rf-1", MLFLOW_NAME, c8))
        vs_bento = div(rps("rf-1", MDREG_NAME, c8), rps("rf-1", BENTO_NAME, c8))
        ceiling = median_of(raw["rf-1"]["n"], "rps")
        o = overhead(results, raw, stages, paired, report, c_lo)
        targets += [
            {"target": f"req/s >= 2x MLflow's, 1 row, c={c8}", "value": vs_mlflow},
            {"target": f"req/s >= BentoML's, 1 row, c={c8}", "value": vs_bento},
            {"target": f"p50 - raw p50 <= 1 ms, 1 row, c={c_lo}", **o},
        ]
        targets[-3]["met"], targets[-2]["met"] = vs_mlflow >= 2, vs_bento >= 1
        targets[-1]["met"] = o["value"] <= 1.0
        spread = [r["p50_ms"] for r in raw["rf-1"]["1"]]
        noisy = max(spread) > 1.25 * min(spread)
        lines += [
            f"- mdreg req/s at least 2x MLflow's at 1 row, c={c8}: {vs_mlflow:.2f}x, "
            f"{_verdict(vs_mlflow >= 2)}. The model itself caps it: {args.workers} raw "
            f"processes side by side make {ceiling:,.0f} predicts/s, "
            f"{div(ceiling, rps('rf-1', MLFLOW_NAME, c8)):.2f}x MLflow's req/s, and mdreg "
            f"serves {div(rps('rf-1', MDREG_NAME, c8), ceiling):.2f}x that ceiling.",
            f"- mdreg req/s not below BentoML's at 1 row, c={c8}: {vs_bento:.2f}x, "
            f"{_verdict(vs_bento >= 1)}.",
            f"- mdreg's overhead over the raw predict at 1 row, c={c_lo} (p50 − raw p50), at "
            f"most 1 ms: {o['served_p50_ms']:.2f} − {o['floor_p50_ms']:.2f} = "
            f"{o['value']:.2f} ms, {_verdict(o['value'] <= 1.0)}. The raw p50 is the lower "
            f"of `model.predict` on a DataFrame of the rows ({o['frame_p50_ms']:.2f}) and on "
            f"the same rows as an array ({o['array_p50_ms']:.2f}; score.py feeds the forest "
            f"an array). Paired (one raw call, then one request, in turn from one client): "
            f"{o['paired_ms']:.2f} ms. Its parts, each measured without the model's noise: "
            f"`mdreg serve` of a score.py that costs nothing, c=1 p50 (client included) "
            f"{o['server_ms']:.2f} + score.py's own work over the raw array call, in process "
            f"{o['score_ms']:.2f} = {o['server_ms'] + o['score_ms']:.2f} ms; see the "
            "breakdown below."
            + (
                f" The raw p50 moved {min(spread):.1f}–{max(spread):.1f} ms between rounds: "
                "the whole figures are noise-dominated in this run, the parts are not."
                if noisy
                else ""
            ),
        ]
    tails = []
    for case in results:
        p50, p99 = p(case, MDREG_NAME, c_hi, 50), p(case, MDREG_NAME, c_hi, 99)
        ok = p99 <= 3 * p50
        tails.append(
            f"{case} {p99:.1f}/{p50:.1f} = {div(p99, p50):.1f}x {'met' if ok else 'MISSED'}"
        )
        targets.append(
            {"target": f"p99 <= 3x p50 at c={c_hi}, {case}", "value": div(p99, p50), "met": ok}
        )
    all_tails = all(t["met"] for t in targets if t["target"].startswith("p99"))
    lines.append(
        f"- mdreg p99 at most 3x p50 at c={c_hi}: {'; '.join(tails)}: {_verdict(all_tails)}."
    )
    report.setdefault("targets", []).extend(targets)

    breakdown = ""
    if "rf-1" in results and stages.get("rf-1"):
        o = overhead(results, raw, stages, paired, report, c_lo)
        http_ms = front_summary(report).get("uvicorn_c1_p50", float("nan"))
        r1 = raw["rf-1"]["1"]
        parts = [
            ["raw `model.predict(DataFrame)` p50 (the table's raw row)", median_of(r1, "p50_ms")],
            [
                "raw `model.predict(array)` p50, the same rows, in turn with it",
                median_of(r1, "array_p50_ms"),
            ],
            [f"`mdreg serve` p50 at c={c_lo} (the table)", o["served_p50_ms"]],
            ["whole, direct: mdreg p50 − the lower raw p50 (the target's figure)", o["value"]],
            [
                "whole, paired: a raw array call, then one request, in turn (median difference)",
                o["paired_ms"],
            ],
            [
                "part 1: `mdreg serve` of a trivial score.py, c=1 p50 (serve-servers)",
                o["server_ms"],
            ],
            [
                "  of which bare HTTP: a trivial ASGI app under uvicorn, c=1 p50 (client included)",
                http_ms,
            ],
            [
                "  of which mdreg's app, the pipe round trip and the worker loop",
                o["server_ms"] - http_ms,
            ],
            [
                "part 2: score.py's json.loads + predict(data) + json.dumps − the raw array call, in process, in turn",
                o["score_ms"],
            ],
            [
                "  of which reading the body: json.loads + deserialize (a DataFrame of the columns, cast to the schema)",
                median_of(stages["rf-1"], "read_p50_ms"),
            ],
            ["part 1 + part 2", o["server_ms"] + o["score_ms"]],
            [
                "the whole not in the parts: the request's predict runs in a worker woken by "
                "a pipe, not in a hot loop (and the pool's FIFO of idle workers alternates "
                "the two at c=1)",
                o["value"] - o["server_ms"] - o["score_ms"],
            ],
        ]
        parts = [[name, f"{ms:.2f}"] for name, ms in parts]
        breakdown = (
            f"\n\nWhere mdreg's latency goes at 1 row, c={c_lo} (ms; medians over rounds; "
            "in-process stages: serve_fixtures.py `stages`, `paired`, same rows):\n\n"
            + table(parts, ["stage", "ms"])
        )
    prof = ""
    if profile:
        prof = "\n\n" + profile_text(profile)
    versions = report["versions"]

    def v(env, name):
        return versions.get(env, {}).get(name, "–")

    return (
        f"Load average (1, 5, 15 min): {fmt_load(report['loadavg_start'])} at the start of "
        f"the run, {fmt_load(sv['loadavg_end'])} at the end of this section. Each contender "
        f"runs {w} model worker processes (mdreg `--workers {w}`, MLflow `--workers {w}`: "
        f"uvicorn's own worker processes, BentoML `@bentoml.service(workers={w})`), one "
        f"BLAS/OpenMP/torch thread each. {args.rounds} rounds, contenders interleaved, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per cell; medians over "
        f"rounds. The raw row: one process calling the model in a loop (the forest on a "
        f"DataFrame of the rows, the CNN on a tensor) at c=1; at c>1, "
        f"{w} such processes side by side (req/s summed: the ceiling for {w} workers; "
        f"latency per call). Load generator: benchmarks/serve_load.py ({args.load_loop}, "
        f"keep-alive connections = concurrency), in its own process on the same 2 cores "
        f"as the server. Versions: mdreg {v('mdreg venv', 'mdreg')} (uvicorn "
        f"{v('mdreg venv', 'uvicorn')} + httptools + uvloop), MLflow "
        f"{v('mlflow venv', 'mlflow')} (uvicorn {v('mlflow venv', 'uvicorn')}, h11 + "
        f"asyncio: its install has no httptools/uvloop), BentoML "
        f"{v('bentoml venv', 'bentoml')} (uvicorn {v('bentoml venv', 'uvicorn')}, h11 + "
        f"asyncio), scikit-learn {v('mdreg venv', 'scikit-learn')}, torch "
        f"{v('mdreg venv', 'torch')} (CPU). Bodies: mdreg a dict of columns (the CNN: "
        f"`mdreg.payload.encode(x, 'npy')`, application/x-npy); MLflow `dataframe_split` "
        f'(the CNN: `{{"inputs": nested lists}}`: its server reads JSON or CSV, no .npy; '
        f'the model saved in MLflow 3\'s default pt2 format); BentoML `{{"columns": '
        f'{{...}}}}` into `dict[str, list[float]]` then a DataFrame (the CNN: `{{"x": '
        f"nested lists}}` into an `np.ndarray` argument). Every server's answers were "
        f"checked against the raw model's before timing.\n\nTargets (mdreg; ratios from "
        f"this run):\n\n" + "\n".join(lines) + "\n\n" + table(rows, header) + "\n\n"
        "mdreg's req/s over each peer's, and over the raw row's:\n\n"
        + table(ratio_rows, ["case", "c", "÷ MLflow", "÷ BentoML", "÷ raw"])
        + breakdown
        + prof
    )


# The frames every sample of a process passes through (start-up, the CLI, the event
# loop's run call): left out of the profile's inclusive list.
ENTRY_FRAMES = (
    "<module>",
    "_run_",
    "main (",
    "_main (",
    "Typer.",
    "TyperGroup.",
    "Command.",
    "Context.",
    "get_callback",
    "serve_cmd",
    "serve_artifact",
    "run (supervisor.py)",
    "Server.",
    "asyncio_run",
    "run (runners.py)",
    "Runner.run",
    "process ",
)


def profile_text(profile: dict) -> str:
    run, seconds = profile["run"], profile["seconds"]
    out = [
        f"py-spy (250 samples/s, CPU only: a process waiting is not sampled; Python frames, "
        f"so uvloop's and httptools' C code counts in the frame that called it) on "
        f"`mdreg serve` during a 1-row, c=8 run ({run['rps']:,.0f} req/s, p50 "
        f"{run['p50_ms']:.2f} ms while profiled), {seconds:g} s. py-spy counts a process "
        "that is runnable but waiting for a core as active: on a saturated machine the "
        "shares include that wait (likely why write_frame, a pipe write of ~20 bytes that "
        "wakes the server, holds a share of the worker's samples)."
    ]
    for role in ("front", "worker"):
        r = profile["roles"].get(role)
        if not r:
            continue
        total = r["samples"] or 1
        busy = r["samples"] / 250 / seconds
        incl = [(n, c) for n, c in r["incl"] if not n.startswith(ENTRY_FRAMES)][:10]
        incl_text = ", ".join(f"{name} {c / total:.0%}" for name, c in incl)
        self_text = ", ".join(f"{name} {c / total:.0%}" for name, c in r["self"][:8])
        who = "the server process" if role == "front" else "the worker processes together"
        out.append(
            f"\n- {role} ({who}): {busy:.0%} of a core. Inclusive: {incl_text}. Self: {self_text}."
        )
    return "".join(out)


def fmt_load(load) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


# ---------------------------------------------------------------------------------------
# serve-servers


def front_servers(work: Path, args) -> list[Server]:
    bodies = {"trivial": (work / "rf_1.mdreg.json", "application/json")}

    def uvicorn(http_impl: str, loop: str) -> list[str]:
        opts = f"--port {{port}} --http {http_impl} --loop {loop} --no-access-log"
        return [PY, "-m", "uvicorn", "serve_apps:trivial", *opts.split(), "--log-level", "warning"]

    servers = [
        Server(
            "uvicorn httptools+uvloop",
            uvicorn("httptools", "uvloop"),
            child_env(),
            "/",
            "/",
            bodies,
            lambda d: d,
            cwd=HERE,
        ),
        Server(
            "uvicorn h11+asyncio",
            uvicorn("h11", "asyncio"),
            child_env(),
            "/",
            "/",
            bodies,
            lambda d: d,
            cwd=HERE,
        ),
    ]
    granian = [str(GRANIAN), "--interface", "asgi", "--no-ws", "--log-level", "warning"]
    if GRANIAN.exists():
        servers.append(
            Server(
                "granian (defaults)",
                [*granian, "--port", "{port}", "serve_apps:trivial"],
                child_env(),
                "/",
                "/",
                bodies,
                lambda d: d,
                cwd=HERE,
            )
        )
    servers.append(
        Server(
            MDREG_TRIVIAL,
            [*MDREG, "serve", str(work / "art-trivial"), "--port", "{port}", "--workers", "1"],
            child_env(),
            "/predict",
            "/health",
            bodies,
            lambda d: d,
            workers=1,
        )
    )
    if GRANIAN.exists():
        servers.append(
            Server(
                "mdreg App under granian, trivial score.py",
                [*granian, "--factory", "--port", "{port}", "serve_apps:mdreg_app"],
                child_env(SERVE_BENCH_ARTIFACT=str(work / "art-trivial"), SERVE_BENCH_WORKERS="1"),
                "/predict",
                "/health",
                bodies,
                lambda d: d,
                cwd=HERE,
                workers=1,
            )
        )
    return servers


def bench_servers(args, work: Path, load: Load, report: dict) -> None:
    servers = front_servers(work, args)
    concs = [1, 8]
    results: dict[str, dict[int, list[dict]]] = {}
    try:
        started = []
        for s in servers:
            try:
                s.start(work)
                s.wait_ready(120)
                started.append(s)
            except RuntimeError as exc:
                _log(f"{s.name} did not start: {exc}")
                s.stop()
        for s in started:
            body, ctype = s.bodies["trivial"]
            load.run(s.port, s.path, body, ctype, 8, warmup=args.prime)
        for rnd in range(args.rounds):
            order = started[rnd % len(started) :] + started[: rnd % len(started)]
            _log(f"serve-servers round {rnd + 1}/{args.rounds}")
            for conc in concs:
                for s in order:
                    body, ctype = s.bodies["trivial"]
                    run = load.run(s.port, s.path, body, ctype, conc)
                    results.setdefault(s.name, {}).setdefault(conc, []).append(run)
    finally:
        for s in servers:
            s.stop()
    report["servers"] = {
        "results": {n: {str(c): r for c, r in by.items()} for n, by in results.items()},
        "order": [s.name for s in servers],
        "commands": {s.name: s.cmd_shown for s in servers},
        "loadavg_end": os.getloadavg(),
    }


def front_summary(report: dict) -> dict[str, float]:
    """c=1 p50s of the bare uvicorn app and of mdreg serve with a trivial score.py."""
    results = report.get("servers", {}).get("results", {})
    names = {"uvicorn_c1_p50": "uvicorn httptools+uvloop", "mdreg_c1_p50": MDREG_TRIVIAL}
    return {k: median_of(results[n]["1"], "p50_ms") for k, n in names.items() if n in results}


def servers_section(report: dict) -> str:
    args = argparse.Namespace(**report["settings"])
    sv = report["servers"]
    results = {n: {int(c): r for c, r in by.items()} for n, by in sv["results"].items()}
    rows = []
    for name in sv["order"]:
        by = results.get(name)
        if not by:
            rows.append([name, "did not start", "", "", "", ""])
            continue
        cells = [(8, "rps", ",.0f"), (8, "p50_ms", ".2f"), (8, "p99_ms", ".2f")]
        cells += [(1, "rps", ",.0f"), (1, "p50_ms", ".2f")]
        rows.append([name, *(format(median_of(by[c], k), f) for c, k, f in cells)])

    def r8(name):
        return median_of(results[name][8], "rps") if name in results else float("nan")

    uv, h11, gr = (
        r8("uvicorn httptools+uvloop"),
        r8("uvicorn h11+asyncio"),
        r8("granian (defaults)"),
    )
    md_uv = r8(MDREG_TRIVIAL)
    md_gr = r8("mdreg App under granian, trivial score.py")
    return (
        f"Load average (1, 5, 15 min): {fmt_load(report['loadavg_start'])} at the start of "
        f"the run, {fmt_load(sv['loadavg_end'])} at the end of this section. One server "
        "process each; the trivial app (benchmarks/serve_apps.py) reads the body and answers "
        "a fixed JSON document; mdreg's App runs a score.py that returns a constant, in one "
        f"worker process. Same body as the 1-row case (300 bytes). {args.rounds} rounds, "
        f"interleaved, {args.warmup:g} s warm-up + {args.duration:g} s each; medians. The "
        "load generator (one process, same 2 cores) takes CPU from the server: these are "
        "ratios, not capacities.\n\n"
        + table(
            rows, ["server", "c=8 req/s", "c=8 p50 ms", "c=8 p99 ms", "c=1 req/s", "c=1 p50 ms"]
        )
        + f"\n\nAt c=8, trivial app: httptools+uvloop {div(uv, h11):.2f}x h11+asyncio; granian "
        f"{div(gr, uv):.2f}x uvicorn httptools+uvloop. mdreg's App (with its worker hop): "
        f"under granian {div(md_gr, md_uv):.2f}x under uvicorn. "
        + (
            "granian is not faster here, on its own or in front of mdreg's App: uvicorn with "
            "httptools + uvloop stays mdreg's server."
            if gr <= uv and md_gr <= 1.1 * md_uv
            else "granian measured faster in this run than uvicorn on at least one of the two."
        )
    )


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="serve,serve-servers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per cell, untimed")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per cell")
    parser.add_argument("--prime", type=float, default=3.0, help="warm-up per server at start")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--load-loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument(
        "--render",
        nargs="?",
        const=str(RESULTS_JSON),
        metavar="JSON",
        help="measure nothing: write the sections from a saved report [default: "
        "benchmarks/results/serve.json]",
    )
    args = parser.parse_args()
    from run import write_section  # run.py imports harness too

    if args.render:
        report = json.loads(Path(args.render).read_text())
    else:
        report = measure(args)
    sections = {}
    if "servers" in report:
        sections["serve-servers"] = servers_section(report)
    if "serve" in report:
        sections["serve"] = serve_section(report)
    for name in ("serve", "serve-servers"):
        if name in sections:
            print(f"## {name}\n{sections[name]}\n", flush=True)
            if not args.no_write:
                write_section(name, sections[name])
                dated(name, report)


def dated(name: str, report: dict) -> None:
    """The section's date and machine line as they were when it was measured (run.py's
    write_section writes today's, which --render would get wrong)."""
    from run import RESULTS

    text = RESULTS.read_text()
    start = text.index(f"<!-- bench:{name} -->")
    line_start = text.index("\n_", start) + 1
    line_end = text.index("\n", line_start)
    line = f"_{report['date']} — {report['machine']}_"
    RESULTS.write_text(text[:line_start] + line + text[line_end:])


def measure(args) -> dict:
    """Run what --only names; the report (saved before anything is rendered from it)."""
    concurrency = [int(c) for c in args.concurrency.split(",")]
    only = args.only.split(",")
    report: dict = {
        "date": now(),
        "machine": machine(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
        "settings": {**vars(args), "concurrency": concurrency},
    }
    args.concurrency = concurrency
    started = time.perf_counter()
    peers = Peers.setup(profile=not args.no_profile and "serve" in only)
    report["versions"] = peers.versions()
    work = Path(tempfile.mkdtemp(prefix="mdreg-serve-bench-"))
    try:
        fixtures(work, peers)
        load = Load(args.warmup, args.duration, args.load_loop, work)
        # serve-servers first: serve's breakdown uses its c=1 figures
        if "serve-servers" in only:
            bench_servers(args, work, load, report)
        if "serve" in only:
            bench_serve(args, work, peers, load, report)
        report["loadavg_end"] = os.getloadavg()
        report["seconds"] = time.perf_counter() - started
        text = json.dumps(report, indent=1, default=str) + "\n"
        (work / "report.json").write_text(text)
        if not args.no_write:
            RESULTS_JSON.parent.mkdir(exist_ok=True)
            RESULTS_JSON.write_text(text)
    finally:
        if args.keep:
            _log(f"work folder kept: {work} (report.json: --render it)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    minutes = report["seconds"] / 60
    _log(f"measured in {minutes:.1f} min; load average {fmt_load(report['loadavg_end'])}")
    return report


if __name__ == "__main__":
    main()
