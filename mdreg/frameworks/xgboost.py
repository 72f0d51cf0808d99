"""XGBoost: native model files (JSON, UBJSON, the legacy binary format) and pickled or
joblib-dumped scikit-learn-API estimators (XGBClassifier, XGBRegressor, ...).

The artifact always holds the native JSON model (``model.json``). A model saved from a
scikit-learn-API estimator is reloaded into that estimator's class by score.py, so its
``predict`` keeps the estimator's meaning (class labels for a classifier); a plain
Booster predicts what ``Booster.predict`` does. A pickled object that merely contains
XGBoost (a scikit-learn Pipeline ending in an XGBClassifier) cannot be expressed in
the native format: it is kept as a pickle.

Sniffing reads bytes only: JSON and UBJSON models open with an object whose first key
is ``learner`` and end with a ``version`` array; legacy binary models start with
``binf``, a 136-byte parameter block, then the objective's and the booster's names.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks import boosting
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe
from mdreg.scan import is_pickle_like

#: Distributions that ship the ``xgboost`` module (the CPU-only wheel is ``xgboost-cpu``).
DISTRIBUTIONS = ("xgboost", "xgboost-cpu", "xgboost-cu12", "xgboost-cu13")
#: The scikit-learn-API classes score.py may rebuild by name from ``model.json``.
ESTIMATOR_CLASSES = (
    "XGBClassifier",
    "XGBRegressor",
    "XGBRanker",
    "XGBRFClassifier",
    "XGBRFRegressor",
)
#: What ``XGBModel.save_model`` records as ``_estimator_type`` -> the class to reload into.
_ESTIMATOR_TYPES = {
    "classifier": "XGBClassifier",
    "regressor": "XGBRegressor",
    "ranker": "XGBRanker",
}

_JSON_HEAD = re.compile(rb'\A\s*\{\s*"learner"\s*:\s*\{')
_JSON_VERSION = re.compile(rb'"version"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]\s*\}\s*\Z')
_UBJ_INT = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_LEGACY_PARAM_BYTES = 136  # LearnerModelParamLegacy: base_score, num_feature, ... reserved
_LEGACY_OBJECTIVE = re.compile(rb"\A(?:reg|binary|multi|rank|count|survival):[a-z_]+\Z")
_LEGACY_BOOSTERS = (b"gbtree", b"gblinear", b"dart")
TAIL_BYTES = 256


class XGBoostFramework(Framework):
    name = "xgboost"
    display_name = "XGBoost"
    taxonomy_framework = "xgboost"
    module = "xgboost"
    distribution = "xgboost"  # or xgboost-cpu / xgboost-cu12: see version()
    extra = "xgboost"
    model_file_name = "model.json"
    serialization_format = "json"
    template = "score_xgboost.py.jinja2"
    inference_modules = ("xgboost",)
    allow = ("xgboost",)  # implies sklearn and numpy (mdreg.scan.policy.IMPLIES)

    # -- packaging ------------------------------------------------------------------
    def version(self) -> str | None:
        import importlib.metadata  # kept out of sniffing

        for dist in DISTRIBUTIONS:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    # -- detection (bytes only) -----------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        if probe.is_dir or not probe.head:
            return None
        head = probe.head
        if _JSON_HEAD.match(head):
            version = _json_version(probe.path)
            saved = f", saved by XGBoost {version}" if version else ""
            return Detection(
                self.name,
                0.95 if version else 0.9,
                f"XGBoost JSON model (first key 'learner'{saved})",
            )
        if _ubj_first_key(head) == b"learner":
            version = _ubj_version(probe.path)
            saved = f", saved by XGBoost {version}" if version else ""
            return Detection(
                self.name,
                0.95 if version else 0.9,
                f"XGBoost UBJSON model (first key 'learner'{saved})",
            )
        legacy = legacy_binary(head)
        if legacy:
            objective, booster = legacy
            return Detection(
                self.name,
                0.95,
                f"legacy binary XGBoost model (objective {objective}, booster {booster})",
            )
        return probe.claim_pickle(self.name, "xgboost")

    # -- the model ------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions) -> Any:
        self.require()
        head = _read_head(path)
        if _native_kind(head) is None and is_pickle_like(head):
            from mdreg.scan.gate import load_joblib

            model = load_joblib(path, options.cleared)  # also reads plain pickles
            import xgboost as xgb

            boosting.check_loaded(
                path, model, (xgb.Booster, xgb.XGBModel), "an XGBoost Booster or estimator"
            )
            return model
        import xgboost as xgb

        try:
            booster = xgb.Booster(model_file=str(path))
        except xgb.core.XGBoostError as exc:
            if legacy_binary(head):
                raise InputError(
                    f"{path}: a legacy binary XGBoost model, which xgboost {xgb.__version__} "
                    "cannot read (the format was removed in 3.1); re-save it as JSON with "
                    "xgboost < 3.1: xgboost.Booster(model_file=PATH).save_model('model.json')"
                ) from exc
            raise InputError(f"{path}: xgboost could not load it: {_first_line(exc)}") from exc
        kind = _saved_estimator_type(booster)
        cls = _ESTIMATOR_TYPES.get(kind) if kind is not None else None
        if cls is None:
            return booster
        estimator = getattr(xgb, cls)()  # saved by XGBModel.save_model: keep its semantics
        estimator.load_model(str(path))
        return estimator

    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        if _storage(model) == boosting.PICKLE:
            return boosting.save_pickle(model, dest_dir)
        model.save_model(str(dest_dir / self.model_file_name))  # Booster and XGBModel alike
        return self.model_file_name

    def describe(self, model: Any) -> ModelFacts:
        import xgboost as xgb

        estimator = boosting.final_estimator(model)
        if isinstance(estimator, xgb.XGBModel):
            booster = estimator.get_booster()
            params = {k: v for k, v in estimator.get_params(deep=False).items() if v is not None}
        elif isinstance(estimator, xgb.Booster):
            booster, params = estimator, _booster_params(estimator)
        else:  # not reached: load() refuses objects without XGBoost inside
            return ModelFacts(algorithm=type(model).__name__, framework_version=self.version())
        config = json.loads(booster.save_config())["learner"]
        objective = config["objective"]["name"]
        algorithm = (
            type(estimator).__name__
            if estimator is not booster
            else f"Booster({config['gradient_booster']['name']}, {objective})"
        )
        return boosting.facts(
            model,
            estimator,
            algorithm=algorithm,
            params=params,
            use_case_type=boosting.use_case(
                estimator, xgb.XGBClassifier, xgb.XGBRegressor, _use_case(objective)
            ),
            feature_names=booster.feature_names,
            n_features=booster.num_features() or None,
            version=self.version(),
        )

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        import xgboost as xgb

        storage = _storage(model)
        cls = type(model).__name__ if storage == "json" and isinstance(model, xgb.XGBModel) else ""
        return {
            "predict_call": "_predict(model, features)",
            "loader": storage,
            "estimator_class": cls,
        }


# -- sniffing helpers ----------------------------------------------------------------------


def _json_version(path: Path) -> str | None:
    match = _JSON_VERSION.search(_read_tail(path))
    return ".".join(g.decode() for g in match.groups()) if match else None


def _ubj_first_key(head: bytes) -> bytes | None:
    if len(head) < 3 or head[:1] != b"{":
        return None
    fmt = _UBJ_INT.get(head[1:2])
    if fmt is None:
        return None
    size = struct.calcsize(fmt)
    (length,) = struct.unpack(fmt, head[2 : 2 + size]) if len(head) >= 2 + size else (-1,)
    if not 0 < length <= 64:
        return None
    return head[2 + size : 2 + size + length]


def _ubj_version(path: Path) -> str | None:
    """The ``version`` array that closes an XGBoost UBJSON model, e.g. ``[#L<3>i3i2i0}``."""
    tail = _read_tail(path)
    at = tail.rfind(b"version[")
    if at < 0:
        return None
    pos = at + len(b"version[")
    if tail[pos : pos + 1] == b"$":  # typed array: $<type>#<count>
        pos += 2
    if tail[pos : pos + 1] == b"#":
        fmt = _UBJ_INT.get(tail[pos + 1 : pos + 2])
        if fmt is None:
            return None
        pos += 2 + struct.calcsize(fmt)
    parts = []
    for _ in range(3):
        fmt = _UBJ_INT.get(tail[pos : pos + 1])
        size = struct.calcsize(fmt) if fmt else 0
        if not fmt or len(tail) < pos + 1 + size:
            return None
        parts.append(str(struct.unpack(fmt, tail[pos + 1 : pos + 1 + size])[0]))
        pos += 1 + size
    return ".".join(parts)


def _native_kind(head: bytes) -> str | None:
    if _JSON_HEAD.match(head):
        return "json"
    if _ubj_first_key(head) == b"learner":
        return "ubj"
    return "legacy-binary" if legacy_binary(head) else None


def legacy_binary(head: bytes) -> tuple[str, str] | None:
    """(objective, booster) when ``head`` is the start of a legacy binary XGBoost model
    (XGBoost 1.0-3.0 wrote one, with the ``binf`` marker, for other file extensions)."""
    pos = 4 if head.startswith(b"binf") else 0
    names = []
    pos += _LEGACY_PARAM_BYTES
    for _ in range(2):
        if len(head) < pos + 8:
            return None
        (length,) = struct.unpack("<Q", head[pos : pos + 8])
        if not 0 < length <= 64 or len(head) < pos + 8 + length:
            return None
        names.append(head[pos + 8 : pos + 8 + length])
        pos += 8 + length
    objective, booster = names
    if not _LEGACY_OBJECTIVE.match(objective) or booster not in _LEGACY_BOOSTERS:
        return None
    return objective.decode(), booster.decode()


def _read_head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as f:
        return f.read(size)


def _read_tail(path: Path, size: int = TAIL_BYTES) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read()
    except OSError:
        return b""


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = next((ln for ln in lines if not ln.startswith("[bt]") and "Stack trace" not in ln), "")
    return re.sub(r"^\[[\d:]+\]\s*\S+:\d+:\s*", "", text) or type(exc).__name__


# -- model helpers -----------------------------------------------------------------------


def _storage(model: Any) -> str:
    """ "json" when the native model file carries everything predict needs, else "pickle"."""
    import xgboost as xgb

    return boosting.storage(model, xgb, ESTIMATOR_CLASSES, "json")


def _saved_estimator_type(booster: Any) -> str | None:
    meta = booster.attr("scikit_learn")
    if not meta:
        return None
    try:
        return json.loads(meta).get("_estimator_type")
    except (ValueError, AttributeError):
        return None


def _booster_params(booster: Any) -> dict[str, Any]:
    """What a model file really records (training-only settings such as max_depth are not
    saved in it: a reloaded Booster reports defaults for those, so they are left out)."""
    config = json.loads(booster.save_config())["learner"]
    model_param = config.get("learner_model_param", {})
    gbm = config["gradient_booster"]
    params: dict[str, Any] = {
        "booster": gbm.get("name"),
        "objective": config["objective"]["name"],
        "num_boosted_rounds": booster.num_boosted_rounds(),
        "num_feature": booster.num_features(),
    }
    for key in ("num_class", "num_target", "base_score"):
        if key in model_param:
            params[key] = _number(model_param[key])
    trees = gbm.get("gbtree_model_param") or gbm.get("gbtree", {}).get("gbtree_model_param", {})
    if trees.get("num_parallel_tree", "1") != "1":
        params["num_parallel_tree"] = trees["num_parallel_tree"]
    best = booster.attr("best_iteration")
    if best is not None:
        params["best_iteration"] = _number(best)
    return params


def _number(text: str) -> Any:
    """XGBoost's config strings as numbers: "3" -> 3, "[5E-1]" -> 0.5, "[1E0,2E0]" -> [1.0, 2.0]."""
    parts = [p for p in text.strip("[]").split(",") if p]
    try:
        values = [int(p) if re.fullmatch(r"-?\d+", p) else float(p) for p in parts]
    except ValueError:
        return text
    return values[0] if len(values) == 1 else values


def _use_case(objective: str) -> str | None:
    kind = objective.split(":", 1)[0]
    if kind == "binary":
        return "binary_classification"
    if kind == "multi":
        return "multinomial_classification"
    if kind in ("reg", "count", "survival"):
        return "regression"
    return None  # ranking and custom objectives: the catalog has no better value than "other"
