"""The framework plugin interface.

A plugin teaches mdreg one ML framework: how to recognise its files from their bytes,
how to load and save a model, what the model knows about its inputs, and which
score.py template serves it. Plugins register under the entry-point group
``mdreg.frameworks``; the built-ins are registered there exactly like third-party ones.

Everything a plugin does at import time must be cheap: framework packages are imported
inside ``load``/``save``/``describe``, never at module level, so that sniffing and
``mdreg --help`` stay free of ML frameworks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mdreg.errors import FrameworkNotInstalledError
from mdreg.frameworks.detection import Detection

if TYPE_CHECKING:
    from mdreg.frameworks.probe import Probe

__all__ = ["Detection", "Framework", "LoadOptions", "ModelFacts"]


@dataclass
class ModelFacts:
    """What a loaded model says about itself; every field is optional."""

    algorithm: str = "unknown"
    framework_version: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    use_case_type: str | None = None  # one of the catalog's UseCaseType values
    feature_names: list[str] | None = None
    n_features: int | None = None
    classes: list[Any] | None = None
    n_outputs: int | None = None  # width of the prediction, for the output schema without a sample
    #: names of the model's outputs, in the order it returns them: the output schema's
    #: columns when score.py's answer does not name them (a list of outputs, or of values)
    output_names: list[str] | None = None
    serialization_format: str | None = None  # when it differs by input form (h5, SavedModel, ...)
    #: the names of the model's inputs when it takes several tensors (its forward's
    #: arguments, in order); the sample is then one array per name (an .npz)
    input_names: list[str] | None = None


@dataclass(frozen=True)
class LoadOptions:
    """What the user told prepare about how to rebuild the model object."""

    model_code: Path | None = (
        None  # a .py file defining the model's class (copied into the artifact)
    )
    model_class: str | None = None  # "module:Class" to instantiate before loading a state_dict
    trust: bool = False  # --trust: the user vouches for code the model file carries
    #: The (module, name) globals the safety gate cleared: a pickle load imports these only
    #: (``mdreg.scan.gate``). None: no list to hold it to (a file trusted unread).
    cleared: frozenset[tuple[str, str]] | None = None
    #: ``model_code`` imported (``mdreg.frameworks.code.ModelCode``): loaded once, by prepare
    code: Any = None


class Framework(ABC):
    r"""Base class of framework plugins: set the class attributes, write ``load`` and
    ``save`` (the two abstract methods), and ``sniff`` for mdreg to recognise the
    framework's files by their bytes; the other methods have working defaults.

    How a request becomes a prediction is written once, in the score.py template: prepare
    runs the rendered score.py on ``--x-sample`` for the output schema
    (``mdreg.artifact.scoring``), so a plugin has no prediction code of its own.

    A minimal plugin, complete and working: linear models kept as a NumPy weight matrix
    (a ``.npy`` file), in a package ``npy_linear``. Its module,
    ``npy_linear/__init__.py``::

        import shutil

        from mdreg.frameworks.base import Detection, Framework


        class NpyLinearFramework(Framework):
            name = "npy-linear"  # --framework npy-linear; recorded in the artifact
            display_name = "NumPy linear model"
            model_file_name = "model.npy"
            serialization_format = "npy"
            template = "score_npy_linear.py.jinja2"  # in npy_linear/templates/
            template_package = "npy_linear"

            def sniff(self, probe):  # bytes only: nothing heavy is imported to sniff
                if probe.head.startswith(b"\x93NUMPY"):
                    return Detection(self.name, 0.5, "a NumPy .npy array")
                return None

            def load(self, path, options):
                import numpy as np

                return np.load(path, allow_pickle=False)

            def save(self, model, source, dest_dir, options):
                shutil.copyfile(source, dest_dir / self.model_file_name)
                return self.model_file_name

            def template_context(self, model, source):  # score.py's call of the model
                return {"predict_call": "features @ model"}

    Its score.py template, ``npy_linear/templates/score_npy_linear.py.jinja2`` (mdreg's
    base template does the rest: requests, schemas, the model file's checksum)::

        {% extends "_score_base.py.jinja2" %}
        {% block load %}    return np.load(path, allow_pickle=False)
        {% endblock %}

    And its registration, in ``pyproject.toml``::

        [project.entry-points."mdreg.frameworks"]
        npy-linear = "npy_linear:NpyLinearFramework"

        [tool.setuptools.package-data]
        npy_linear = ["templates/*.jinja2"]

    ``examples/mdreg-onnx`` is a fuller one (and ``tests/frameworks/test_base.py`` runs
    this one).
    """

    #: Registry key, used by ``--framework`` and stored in the artifact's metadata.
    name: ClassVar[str] = ""
    #: Human-readable framework name (e.g. "scikit-learn", "ONNX").
    display_name: ClassVar[str] = ""
    #: The catalog's taxonomy value for ``Framework``, one of the service's list
    #: ("scikit-learn", "xgboost", "lightgbm", "pytorch", "tensorflow", "keras", "pyspark",
    #: ... or "other").
    taxonomy_framework: ClassVar[str] = "other"
    #: Importable module whose version is reported (``None``: nothing to import).
    module: ClassVar[str | None] = None
    #: Distribution name for version lookup and the install hint.
    distribution: ClassVar[str | None] = None
    #: mdreg extra that installs the framework.
    extra: ClassVar[str | None] = None
    #: File name of the serialized model inside the artifact.
    model_file_name: ClassVar[str] = "model.pkl"
    #: The catalog's ``ModelSerializationFormat`` value.
    serialization_format: ClassVar[str] = "pickle"
    #: Jinja2 template rendered into score.py, looked up in ``template_package``'s
    #: ``templates/`` folder first, then in mdreg's own (whose base templates it may extend).
    template: ClassVar[str] = "score_generic.py.jinja2"
    template_package: ClassVar[str | None] = None
    #: Service conda pack slug used when the user names none.
    default_conda_env: ClassVar[str] = "generalml_p311_cpu_x86_64_v1"
    #: Top-level modules the generated score.py may import besides stdlib, numpy, pandas.
    inference_modules: ClassVar[tuple[str, ...]] = ()
    #: Allow-list groups (see ``mdreg.scan``) a pickle of this framework may reference.
    allow: ClassVar[tuple[str, ...]] = ()

    #: False for plugins the user picks by name and that never claim a file by its bytes.
    detectable: ClassVar[bool] = True
    #: False for plugins whose load never unpickles the file (it is only copied): the
    #: safety gate then judges what ships, not the file as something to load.
    unpickles: ClassVar[bool] = True
    #: True for plugins that build the model from a class before loading weights into it
    #: (``--model-class``); elsewhere that option is a usage error.
    takes_model_class: ClassVar[bool] = False
    #: True for a fallback that claims what no framework plugin recognises (any pickle):
    #: its score.py guesses how to call the model, and prepare says so.
    guessed: ClassVar[bool] = False
    #: True for plugins whose score.py is a template for the user to fill in (mdreg
    #: cannot run the model): prepare says so.
    template_only: ClassVar[bool] = False

    # -- detection (bytes only) -------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        """Claim the file described by ``probe``, or return None. Reads bytes only.
        The default claims nothing: a plugin chosen only by ``--framework`` (set
        ``detectable = False``) needs no other."""
        return None

    # -- the model ----------------------------------------------------------------
    @abstractmethod
    def load(self, path: Path, options: LoadOptions) -> Any:
        """The model in ``path`` (a file or folder), loaded for ``describe``, ``save`` and
        ``template_context``. Import the framework here, not at module level."""

    @abstractmethod
    def save(self, model: Any, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        """Write ``model`` (loaded from ``source``) into ``dest_dir`` in the framework's
        native format; return the file (or folder) name used, relative to ``dest_dir``."""

    def describe(self, model: Any) -> ModelFacts:
        return ModelFacts(framework_version=self.version())

    def feature_key(self, column: str) -> str:
        """How the framework stores a column name (LightGBM turns spaces into '_');
        prepare matches --x-sample's columns to the model's features through it."""
        return column

    def template_context(self, model: Any, source: Path) -> dict[str, Any]:
        """Extra variables for the score.py template (``predict_call``: how score.py calls
        the model on ``features``)."""
        return {"predict_call": "model.predict(features)"}

    # -- packaging ----------------------------------------------------------------
    def installed(self) -> bool:
        return self.version() is not None

    def version(self) -> str | None:
        if not self.distribution:
            return None
        import importlib.metadata  # ~25 ms: only when a version is asked for

        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def require(self) -> None:
        """Raise a clear error with the install hint when the framework is missing."""
        if self.distribution and not self.installed():
            raise FrameworkNotInstalledError(self.display_name, self.distribution, self.extra)
