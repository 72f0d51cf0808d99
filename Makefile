# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FRAMEWORK ?= sklearn
OUT ?= examples/out
DEMO_PORT ?= 8787

.PHONY: demo test install install-test bench bench-peers bench-payloads bench-stream bench-serve bench-score bench-score-spark fuzz completions lint golden clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# An editable install writes no bytecode, and with PYTHONDONTWRITEBYTECODE set nothing
# ever does: every mdreg run would recompile its modules. compileall does what a wheel
# install does.
install: $(BIN)/python
	$(BIN)/pip install -q -e '.[$(FRAMEWORK),serve]'
	$(BIN)/python -m compileall -q mdreg

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m compileall -q mdreg

# Train a small model, prepare it into an artifact, check it, run its score.py, serve it
# and ask the server for a prediction (port DEMO_PORT), zip it, save it in the local
# catalog ($$MDREG_HOME, default ~/.mdreg) and list it.
# examples/train_FRAMEWORK.py OUT prints the model's path and writes OUT/x_sample.* beside it.
demo: install
	model=$$($(BIN)/python examples/train_$(FRAMEWORK).py $(OUT)) && \
	$(BIN)/mdreg prepare "$$model" -o $(OUT)/artifact --x-sample $$(ls $(OUT)/x_sample.*) --force
	$(BIN)/mdreg introspect $(OUT)/artifact
	$(BIN)/mdreg verify $(OUT)/artifact
	bash examples/serve_demo.sh $(BIN) $(OUT)/artifact $$(ls $(OUT)/x_sample.*) $(DEMO_PORT)
	$(BIN)/mdreg zip $(OUT)/artifact -o $(OUT)/artifact.zip
	$(BIN)/mdreg save $(OUT)/artifact --display-name "$(FRAMEWORK) demo" --version-set demo-$(FRAMEWORK)
	$(BIN)/mdreg list --version-set demo-$(FRAMEWORK)

test: install-test lint
	$(BIN)/python -m pytest -q

# Benchmarks (not tests; an hour or more): results in benchmarks/RESULTS.md. picklescan
# is the scan benchmark's peer, installed here only. bench-peers makes (once, cached in
# ~/.cache/mdreg-bench) the ADS and MLflow venvs and measures mdreg against them;
# bench-serve measures `mdreg serve` against MLflow's and BentoML's servers over HTTP.
bench: install-test
	$(BIN)/pip install -q picklescan
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/peers.py

bench-peers: install-test
	$(BIN)/python benchmarks/peers.py

# score.py request payloads (JSON vs .npy vs Arrow, and vs ADS's score.py): sections
# payloads and payloads-ads. On a GPU machine: benchmarks/payload_bench.py --device cuda.
bench-payloads: install-test
	$(BIN)/python benchmarks/run.py --only payloads,payloads-ads

# An artifact folder zipped straight into Object Storage parts (`mdreg upload FOLDER
# oci://...`) vs zipping to a file and uploading it, against the loopback OCI test
# server: time, peak RSS and bytes written locally (section oci-stream). 2 and 5 GB by
# default (about 3x the size of free disk, 20 minutes on 2 cores); STREAM_BENCH_ARGS=
# "--sizes 0.5 --runs 1" for a quick look.
STREAM_BENCH_ARGS ?=
bench-stream: install-test
	$(BIN)/python benchmarks/stream_bench.py $(STREAM_BENCH_ARGS)

# `mdreg serve` vs `mlflow models serve` vs `bentoml serve` vs the raw model, over HTTP
# (RandomForest 1 and 1,000 rows, a CNN batch of 16; concurrency 1, 8, 32), and the HTTP
# front alone (uvicorn httptools/h11, granian): sections serve and serve-servers, raw
# numbers in benchmarks/results/serve.json. About 15 minutes; the first run also makes
# the BentoML and py-spy venvs in ~/.cache/mdreg-bench. granian is the serve-servers
# section's peer, installed here only. SERVE_BENCH_ARGS="--rounds 1 --duration 2" for a
# quick look.
SERVE_BENCH_ARGS ?=
bench-serve: install-test
	$(BIN)/pip install -q granian==2.8.9
	$(BIN)/python benchmarks/serve_bench.py $(SERVE_BENCH_ARGS)

# mdreg score's local engine against the raw predict loop over the same Parquet file (section
# score): a RandomForest and a LightGBM model, 1M and 10M generated rows (SCORE_BENCH_ARGS,
# e.g. --rows 1e6,2e6 --models rf, for a shorter run).
bench-score: install-test
	$(BIN)/python benchmarks/score_bench.py $(SCORE_BENCH_ARGS)

# mdreg.spark.score against MLflow's spark_udf on the same model, Parquet data and local[2]
# SparkSession (section score-spark, raw numbers in benchmarks/results/score_spark.json):
# RandomForest and LightGBM, 1M and 10M rows by default: about an hour on a busy 2-core
# machine (--rows 1e6,3e6 took 22 minutes). MLflow stays out of the project's venv: the script
# runs itself in ~/.cache/mdreg-bench/spark (mdreg editable, with pyspark and mlflow; made on
# the first run). SCORE_SPARK_BENCH_ARGS="--rows 2e5 --rounds 1" for a quick look.
SCORE_SPARK_BENCH_ARGS ?=
bench-score-spark: install-test
	$(BIN)/python benchmarks/score_spark_bench.py $(SCORE_SPARK_BENCH_ARGS)

# Differential fuzzing of the pickle walker against the C and pure-Python unpicklers
# (tests/security/fuzz.py; `make test` runs 6,000 cases): section fuzz. Exits 1 on a
# finding, printing its seed and bytes. FUZZ_CASES=N, FUZZ_SEED=S for other runs.
FUZZ_CASES ?= 100000
FUZZ_SEED ?= 0
fuzz: install-test
	$(BIN)/python benchmarks/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

completions: install
	$(BIN)/python scripts/make_completions.py

lint: install-test
	$(BIN)/ruff check mdreg tests benchmarks scripts examples
	$(BIN)/ruff format --check mdreg tests benchmarks scripts examples
	$(BIN)/mypy mdreg

# Rewrite the golden score.py files (tests/golden/score/, one per framework) from today's
# templates; tests/templates/test_golden.py compares them. Review the diff (git diff
# tests/golden/score) and commit it with the template change.
golden:
	$(BIN)/python -m tests.templates.golden --write

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
