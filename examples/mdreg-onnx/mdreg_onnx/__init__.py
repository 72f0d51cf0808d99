"""mdreg-onnx: an example third-party mdreg framework plugin for ONNX models.

Installing this package registers ``OnnxFramework`` under mdreg's entry-point group
``mdreg.frameworks`` (see pyproject.toml); mdreg then recognises ``.onnx`` files from their
bytes, copies them into the artifact as ``model.onnx`` and writes a score.py that serves
them with onnxruntime.

Like every plugin, this module imports nothing heavy at import time: ``sniff`` reads the
probe's bytes with a small protobuf field walker, and onnx is imported only inside
``load``, ``save`` and ``describe``. onnxruntime runs the model in score.py only: prepare
runs that score.py on ``--x-sample`` for the output schema.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mdreg.errors import FrameworkNotInstalledError, InputError
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.probe import Probe

__all__ = ["OnnxFramework", "OnnxModel", "read_model_header"]
__version__ = "0.1.0"

# -- sniffing: top-level fields of an onnx.ModelProto, read from bytes ----------------

#: ModelProto's top-level fields: number -> (protobuf wire type, name). onnx writes them
#: in field-number order, so ir_version (tag byte 0x08) comes first.
MODEL_FIELDS: dict[int, tuple[int, str]] = {
    1: (0, "ir_version"),
    2: (2, "producer_name"),
    3: (2, "producer_version"),
    4: (2, "domain"),
    5: (0, "model_version"),
    6: (2, "doc_string"),
    7: (2, "graph"),
    8: (2, "opset_import"),
    14: (2, "metadata_props"),
    20: (2, "training_info"),
    25: (2, "functions"),
    26: (2, "configuration"),
}
VARINT, LEN = 0, 2
MAX_FIELDS = 256  # top-level fields walked at most (each opset / metadata entry is one)
MAX_IR_VERSION = 64  # ONNX is at 11-12; anything far above is not an ONNX file
MAX_VARINT_BYTES = 10


class NotModelProto(ValueError):
    """The bytes are not (the start of) a serialized onnx.ModelProto."""


@dataclass
class ModelHeader:
    """What the first bytes of an ONNX file say, read without onnx."""

    ir_version: int | None = None
    producer_name: str | None = None
    producer_version: str | None = None
    has_graph: bool = False
    opsets: dict[str, int] = field(default_factory=dict)  # domain ("" = ai.onnx) -> version
    fields: list[str] = field(default_factory=list)  # names seen, in file order


def _varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """Decode a base-128 varint at ``pos``; None when ``buf`` ends inside it."""
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise NotModelProto("a varint longer than 10 bytes")


def _walk(buf: bytes, total: int | None) -> list[tuple[int, int, Any]]:
    """The top-level (field number, wire type, value) triples of the message in ``buf``.

    ``buf`` may be only the head of a longer message of ``total`` bytes (None: ``buf`` is the
    whole message): the walk then stops at the first field that runs past ``buf``, and a
    length-delimited value is returned as its bytes only when it lies wholly inside ``buf``
    (otherwise None). Only varint and length-delimited fields are accepted.
    """
    end = len(buf) if total is None else total
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(buf) and len(out) < MAX_FIELDS:
        tag = _varint(buf, pos)
        if tag is None:
            break  # the head ends inside a tag
        key, pos = tag
        number, wire = key >> 3, key & 7
        if number == 0:
            raise NotModelProto("field number 0")
        if wire == VARINT:
            value = _varint(buf, pos)
            if value is None:
                break
            out.append((number, wire, value[0]))
            pos = value[1]
        elif wire == LEN:
            length = _varint(buf, pos)
            if length is None:
                break
            size, pos = length
            if pos + size > end:
                raise NotModelProto(f"field {number} runs {pos + size - end} bytes past the end")
            out.append((number, wire, buf[pos : pos + size] if pos + size <= len(buf) else None))
            pos += size
        else:
            raise NotModelProto(f"field {number} has wire type {wire}")
    if total is None and pos != len(buf) and len(out) < MAX_FIELDS:
        raise NotModelProto("trailing bytes")
    return out


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotModelProto("a string field is not UTF-8") from None


def read_model_header(head: bytes, size: int) -> ModelHeader:
    """Read the top-level fields of a ModelProto from the first bytes of a file of ``size``
    bytes. Raises ``NotModelProto`` when the bytes cannot be one."""
    fields = _walk(head, None if len(head) >= size else size)
    if not fields:
        raise NotModelProto("no fields")
    header = ModelHeader()
    for number, wire, value in fields:
        expected = MODEL_FIELDS.get(number)
        if expected is None or expected[0] != wire:
            raise NotModelProto(f"field {number} (wire type {wire}) is not a ModelProto field")
        name = expected[1]
        header.fields.append(name)
        if name == "ir_version":
            header.ir_version = value
        elif name == "producer_name":
            header.producer_name = _text(value)
        elif name == "producer_version":
            header.producer_version = _text(value)
        elif name == "graph":
            header.has_graph = True
        elif name == "opset_import" and value is not None:
            domain, version = "", None
            for n, w, v in _walk(value, None):
                if n == 1 and w == LEN:
                    domain = _text(v) or ""
                elif n == 2 and w == VARINT:
                    version = v
            if version is not None:
                header.opsets[domain] = version
    if header.ir_version is None or not 1 <= header.ir_version <= MAX_IR_VERSION:
        raise NotModelProto(f"no plausible ir_version ({header.ir_version})")
    return header


# -- the plugin ----------------------------------------------------------------------


@dataclass
class OnnxModel:
    """A checked ONNX model: its file, its graph (weights not loaded) and the external
    data files it references, relative to the file's folder."""

    path: Path
    proto: Any  # onnx.ModelProto, loaded with load_external_data=False
    external_data: list[str] = field(default_factory=list)


#: onnxruntime's input type strings -> numpy dtype names (score.py has the same table).
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxFramework(Framework):
    name = "onnx"
    display_name = "ONNX"
    # The catalog's Framework taxonomy has no ONNX value: taxonomy_framework stays "other".
    module = "onnx"
    distribution = "onnx"
    extra = None  # mdreg has no onnx extra: the hint names the missing package itself
    model_file_name = "model.onnx"
    serialization_format = "onnx"
    template = "score_onnx.py.jinja2"
    template_package = "mdreg_onnx"
    inference_modules = ("onnxruntime", "onnx")

    #: What load/describe and score.py import; both must be installed.
    required_modules: tuple[str, ...] = ("onnx", "onnxruntime")

    # -- detection (bytes only) -------------------------------------------------------
    def sniff(self, probe: Probe) -> Detection | None:
        if probe.is_dir or not probe.head:
            return None
        try:
            header = read_model_header(probe.head, probe.size)
        except NotModelProto:
            return None
        whole = len(probe.head) >= probe.size
        if header.has_graph:
            confidence = 0.9
        elif not whole:
            confidence = 0.5  # the graph may come after the head (a long doc_string, say)
        else:
            return None  # the whole file was read and holds no graph: not a model
        return Detection(self.name, confidence, _evidence(header, whole))

    # -- packaging --------------------------------------------------------------------
    def installed(self) -> bool:
        return not self._missing()

    def require(self) -> None:
        missing = self._missing()
        if missing:
            raise FrameworkNotInstalledError(self.display_name, missing[0], self.extra)

    def _missing(self) -> list[str]:
        """The required modules that cannot be found (looked up, not imported)."""
        missing = []
        for module in self.required_modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(module)
        return missing

    # -- the model --------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions) -> OnnxModel:
        self.require()
        import onnx  # frameworks load only when needed

        path = Path(path)
        try:
            onnx.checker.check_model(str(path))
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # any failure is bad input to the user
            raise InputError(
                f"{path}: not a valid ONNX model: {type(exc).__name__}: {exc}"
            ) from exc
        return OnnxModel(path, proto, _external_locations(proto))

    def save(self, model: OnnxModel, source: Path, dest_dir: Path, options: LoadOptions) -> str:
        source = Path(source)
        folder = source.resolve().parent
        copies: list[tuple[Path, Path]] = []
        for location in model.external_data:
            rel = _safe_location(location, source)
            if rel.as_posix() == self.model_file_name or rel.parts[0] == ".mdreg":
                raise InputError(
                    f"{source}: external data file {location!r} would replace "
                    "one of the artifact's own files"
                )
            src = folder / rel
            if not src.resolve().is_relative_to(folder):  # a symlink leading out
                raise InputError(
                    f"{source}: external data file {location!r} lies outside the model's folder"
                )
            if not src.is_file():
                raise InputError(f"{source}: external data file {location!r} is missing")
            copies.append((src, dest_dir / rel))
        shutil.copyfile(source, dest_dir / self.model_file_name)
        for src, dest in copies:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        return self.model_file_name

    def describe(self, model: OnnxModel) -> ModelFacts:
        proto = model.proto
        graph = proto.graph
        inputs = _graph_inputs(graph)
        outputs = {o.name: _shape(o) for o in graph.output}
        n_features = None
        if len(inputs) == 1:
            shape = next(iter(inputs.values()))
            if shape is not None and len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 0:
                n_features = shape[1]
        producer = " ".join(filter(None, (proto.producer_name, proto.producer_version)))
        hyperparameters = {
            "ir_version": proto.ir_version,
            "opset": {_domain(o.domain): o.version for o in proto.opset_import},
            "producer": producer or None,
            "inputs": inputs,
            "outputs": outputs,
            "operators": sorted({n.op_type for n in graph.node}),
        }
        return ModelFacts(
            algorithm=f"ONNX({graph.name or 'graph'})",
            framework_version=self.version(),
            hyperparameters=hyperparameters,
            n_features=n_features,
        )

    def template_context(self, model: OnnxModel, source: Path) -> dict[str, Any]:
        return {**super().template_context(model, source), "ort_dtypes": dict(ORT_DTYPES)}


# -- helpers ----------------------------------------------------------------------------


def _domain(domain: str) -> str:
    return domain or "ai.onnx"


def _evidence(header: ModelHeader, whole: bool) -> str:
    parts = ["protobuf ModelProto", f"ir_version {header.ir_version}"]
    producer = " ".join(filter(None, (header.producer_name, header.producer_version)))
    if producer:
        parts.append(f"producer {producer!r}")
    if header.opsets:
        parts.append("opset " + ", ".join(f"{_domain(d)} {v}" for d, v in header.opsets.items()))
    if not header.has_graph and not whole:
        parts.append("no graph in the first 4 KB")
    return ", ".join(parts)


def _safe_location(location: str, source: Path) -> PurePosixPath:
    """An external-data location as a path relative to the model's folder, or InputError."""
    rel = PurePosixPath(location.replace("\\", "/"))
    if (
        not location
        or rel.is_absolute()
        or ".." in rel.parts
        or ":" in rel.parts[0]
        or rel.as_posix() in ("", ".")
    ):
        raise InputError(
            f"{source}: external data file {location!r} lies outside the model's folder"
        )
    return rel


def _tensors(graph: Any) -> Any:
    """Every TensorProto of a graph: initializers, sparse initializers, node attributes,
    and those of subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            for sparse in attr.sparse_tensors:
                yield sparse.values
                yield sparse.indices
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _external_locations(proto: Any) -> list[str]:
    """The external data files the model's tensors reference, in first-seen order."""
    from onnx import TensorProto

    graphs = [
        proto.graph,
        *(f for info in proto.training_info for f in (info.initialization, info.algorithm)),
    ]
    seen: dict[str, None] = {}
    for graph in graphs:
        for tensor in _tensors(graph):
            if tensor.HasField("data_location") and tensor.data_location == TensorProto.EXTERNAL:
                for entry in tensor.external_data:
                    if entry.key == "location":
                        seen.setdefault(entry.value, None)
    for function in proto.functions:
        for node in function.node:
            for attr in node.attribute:
                if attr.HasField("t") and attr.t.data_location == TensorProto.EXTERNAL:
                    for entry in attr.t.external_data:
                        if entry.key == "location":
                            seen.setdefault(entry.value, None)
    return list(seen)


def _shape(value_info: Any) -> list[int | str | None] | None:
    """A tensor input/output's shape: ints for fixed dims, names for symbolic ones, None
    for unknown ones; None for a non-tensor or one without a shape."""
    tensor = value_info.type.tensor_type if value_info.type.HasField("tensor_type") else None
    if tensor is None or not tensor.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return dims


def _graph_inputs(graph: Any) -> dict[str, list[int | str | None] | None]:
    """The graph's real inputs (older models also list their initializers as inputs)."""
    initializers = {t.name for t in graph.initializer}
    return {i.name: _shape(i) for i in graph.input if i.name not in initializers}
