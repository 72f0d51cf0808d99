"""Judge the globals a pickle imports: allowed per framework, denied always, or unknown.

Patterns are ``"module:name"`` with shell wildcards on each side. A module
pattern ``"sklearn.*"`` means any submodule; a name pattern matches only plain
names (protocol 4 dotted names walk attributes, so ``"Tree.__init__.__globals__"``
is never covered by ``"*"``). DENY wins over ALLOW; ``UNTRUSTED`` carves
submodules out of an allowed prefix.
"""

from __future__ import annotations

import _compat_pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase
from functools import cache, lru_cache, partial
from pathlib import Path

from mdreg.scan.report import GlobalRef


def _words(text: str) -> list[str]:
    return text.split()


class Verdict(str, Enum):
    SAFE = "safe"
    UNKNOWN = "unknown"
    DANGEROUS = "dangerous"


_RANK = {Verdict.SAFE: 0, Verdict.UNKNOWN: 1, Verdict.DANGEROUS: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_RANK.__getitem__, default=Verdict.SAFE)


@dataclass
class Finding:
    """A global (or, with ``ref=None``, a whole file) that is not safe to load, and why."""

    ref: GlobalRef | None
    severity: Verdict
    reason: str
    path: Path | None = None  # the file, when a folder was scanned


# numpy names that rebuild arrays, dtypes and scalars, plus its ufuncs (pickled by name)
_NUMPY_UFUNCS = _words(
    "abs absolute acos acosh add arccos arccosh arcsin arcsinh arctan arctan2 arctanh "
    "asin asinh atan atan2 atanh bitwise_and bitwise_count bitwise_invert "
    "bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor cbrt ceil "
    "conj conjugate copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1 "
    "fabs float_power floor floor_divide fmax fmin fmod frexp gcd greater greater_equal "
    "heaviside hypot invert isfinite isinf isnan isnat lcm ldexp left_shift less "
    "less_equal log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not "
    "logical_or logical_xor matmul matvec maximum minimum mod modf multiply negative "
    "nextafter not_equal positive pow power rad2deg radians reciprocal remainder "
    "right_shift rint sign signbit sin sinh spacing sqrt square subtract tan tanh "
    "true_divide trunc vecdot vecmat"
)
_NUMPY_TYPES = _words(
    "bool bool_ byte bytes_ cdouble clongdouble complex128 complex256 complex64 csingle "
    "datetime64 double float128 float16 float32 float64 half int16 int32 int64 int8 int_ "
    "intc intp long longdouble longlong object_ short single str_ timedelta64 ubyte uint "
    "uint16 uint32 uint64 uint8 uintc uintp ulong ulonglong ushort void dtype ndarray "
    "matrix"
)
_TORCH_DTYPES = _words(
    "float32 float float64 double float16 half bfloat16 complex32 complex64 cfloat "
    "complex128 cdouble uint8 uint16 uint32 uint64 int8 int16 short int32 int int64 long "
    "bool qint8 quint8 qint32 quint4x2 float8_e4m3fn float8_e5m2 strided sparse_coo "
    "sparse_csr contiguous_format channels_last channels_last_3d preserve_format"
)

ALLOW: dict[str, frozenset[str]] = {
    "generic": frozenset(
        {
            *(
                f"builtins:{n}"
                for n in _words(
                    "set frozenset slice complex bytearray bytes object list dict tuple int float bool "
                    "str range Ellipsis NotImplemented"
                )
            ),
            "collections:OrderedDict",
            "collections:defaultdict",
            "collections:deque",
            "collections:Counter",
            "copyreg:_reconstructor",
            "copyreg:__newobj__",
            "copyreg:__newobj_ex__",
            "_codecs:encode",  # protocol 0-2 bytes
            "datetime:datetime",
            "datetime:date",
            "datetime:time",
            "datetime:timedelta",
            "datetime:timezone",
            "decimal:Decimal",
            "fractions:Fraction",
            "uuid:UUID",
            "re:_compile",
            *(
                f"pathlib:{n}"
                for n in _words("Path PosixPath WindowsPath PurePath PurePosixPath PureWindowsPath")
            ),
        }
    ),
    "numpy": frozenset(
        {
            *(f"numpy:{n}" for n in (*_NUMPY_TYPES, *_NUMPY_UFUNCS)),
            "numpy.core.multiarray:_reconstruct",
            "numpy.core.multiarray:scalar",
            "numpy._core.multiarray:_reconstruct",
            "numpy._core.multiarray:scalar",
            "numpy.core.numeric:_frombuffer",
            "numpy._core.numeric:_frombuffer",
            "numpy.ma.core:MaskedArray",
            "numpy.ma.core:_mareconstruct",
            "numpy.dtypes:*DType",
            "numpy.random:*",
            "numpy.random.*:*",
            "joblib.numpy_pickle:NumpyArrayWrapper",
            "scipy.sparse:*",
            "scipy.sparse.*:*",
            "pandas:[A-Z]*",  # classes only: no read_*, eval
            "pandas.arrays:*",
            "pandas.core.*:*",
            "pandas._libs.*:*",
            "pyarrow.lib:_restore_array",
            "pyarrow.lib:type_for_alias",
            "pyarrow.lib:py_buffer",
            "pyarrow.lib:_reconstruct_table",
            "pyarrow.lib:_reconstruct_record_batch",
            "pyarrow.lib:schema",
            "pyarrow.lib:field",
        }
    ),
    "sklearn": frozenset({"sklearn:*", "sklearn.*:*"}),
    "xgboost": frozenset({"xgboost:*", "xgboost.*:*"}),
    "lightgbm": frozenset({"lightgbm:*", "lightgbm.*:*"}),
    "torch": frozenset(
        {
            "torch._utils:_rebuild_*",
            "torch._tensor:_rebuild_from_type",
            "torch._tensor:_rebuild_from_type_v2",
            "torch:*Storage",
            "torch.storage:UntypedStorage",
            "torch.storage:TypedStorage",
            "torch:Size",
            "torch:device",
            "torch:Tensor",
            "torch.serialization:_get_layout",
            *(f"torch:{n}" for n in _TORCH_DTYPES),
            "torch.nn.modules.*:*",
            "torch.nn.parameter:Parameter",
            "torch.nn.parameter:Buffer",
            "torch.nn.parameter:UninitializedParameter",
            "torch.nn.parameter:UninitializedBuffer",
            "torch.optim.*:*",
            "torch.jit._pickle:build_*",  # TorchScript's list and tensor builders
        }
    ),
}

#: Frameworks whose pickles also hold the objects of these allow-lists.
IMPLIES: dict[str, tuple[str, ...]] = {
    "sklearn": ("numpy",),
    "xgboost": ("sklearn", "numpy"),
    "lightgbm": ("sklearn", "numpy"),
    "torch": ("numpy",),
}

_SHELL = "runs commands or code"
_FILES = "reads, writes or deletes files"
_NET = "opens network connections"
_LOADER = "loads another pickle or model file (its content is not scanned)"
_GADGET = "reaches arbitrary attributes or callables"

#: Always dangerous, allowed or not: module prefixes (any name) ...
DENY_MODULES: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "os posix nt subprocess _posixsubprocess sys pty ctypes _ctypes runpy code codeop pdb "
            "bdb timeit profile cProfile trace doctest signal _signal multiprocessing "
            "_multiprocessing asyncio concurrent threading _thread platform commands sysconfig"
        ),
        _SHELL,
    ),
    **dict.fromkeys(
        _words("importlib pkgutil zipimport imp site ensurepip venv pip setuptools distutils"),
        "imports or installs code",
    ),
    **dict.fromkeys(_words("shutil tempfile shelve dbm _io fileinput glob mmap"), _FILES),
    **dict.fromkeys(
        _words(
            "socket _socket ssl select selectors socketserver http urllib urllib3 requests httpx "
            "aiohttp ftplib smtplib telnetlib poplib imaplib xmlrpc webbrowser"
        ),
        _NET,
    ),
    **dict.fromkeys(
        _words("pickle _pickle cPickle marshal dill joblib.numpy_pickle_compat"), _LOADER
    ),
    "numpy.testing": _SHELL,
    "numpy.f2py": _SHELL,
    "numpy.distutils": _SHELL,
    "numpy.ctypeslib": _SHELL,
    "sklearn.utils._testing": _SHELL,
    "torch.hub": _SHELL,
    "torch.package": _LOADER,
    "torch.utils.cpp_extension": _SHELL,
    "pandas.io": _FILES,
    "pandas.core.computation": _SHELL,
    "xgboost.testing": _SHELL,
    "xgboost.tracker": _NET,
}

#: ... and single names.
DENY_NAMES: dict[str, str] = {
    **{
        f"builtins:{n}": _SHELL
        for n in _words(
            "eval exec compile __import__ breakpoint input globals locals vars exit quit help"
        )
    },
    **{f"builtins:{n}": _GADGET for n in _words("getattr setattr delattr")},
    "builtins:open": _FILES,
    "io:open": _FILES,
    "io:open_code": _FILES,
    "io:FileIO": _FILES,
    "codecs:open": _FILES,
    "operator:attrgetter": _GADGET,
    "operator:methodcaller": _GADGET,
    "types:CodeType": _SHELL,
    "types:FunctionType": _SHELL,
    "types:LambdaType": _SHELL,
    "types:MethodType": _GADGET,
    "numpy:load": _LOADER,
    "numpy:memmap": _FILES,
    "numpy:fromfile": _FILES,
    "numpy.core:_ufunc_reconstruct": _GADGET,
    "numpy._core:_ufunc_reconstruct": _GADGET,
    "torch:load": _LOADER,
    "torch.storage:_load_from_bytes": _LOADER,
    "cloudpickle:load": _LOADER,
    "cloudpickle:loads": _LOADER,
    "cloudpickle.cloudpickle:load": _LOADER,
    "cloudpickle.cloudpickle:loads": _LOADER,
    "pandas:eval": _SHELL,
    "pandas:read_*": _FILES,
    "pandas:HDFStore": _FILES,
    "pandas:ExcelWriter": _FILES,
    "scipy.sparse:save_npz": _FILES,
}

#: Names that mean danger in whatever module they live (re-exports included).
_DANGEROUS_NAMES: dict[str, str] = {
    **dict.fromkeys(
        _words(
            "eval exec execfile compile __import__ import_module system popen spawnv spawnl Popen "
            "check_call check_output getoutput getstatusoutput run_path run_module startfile "
            "execv execve execvp execl fork forkpty"
        ),
        _SHELL,
    ),
    **dict.fromkeys(_words("load loads load_module exec_module"), _LOADER),
    **dict.fromkeys(_words("getattr setattr delattr attrgetter methodcaller"), _GADGET),
    **dict.fromkeys(_words("remove unlink rmtree rmdir removedirs"), _FILES),
}

#: Submodules carved out of an allowed prefix: not dangerous per se, never trusted.
UNTRUSTED: dict[str, str] = {
    "sklearn.datasets": "downloads data or reads files",
    "sklearn.externals": "vendored third-party code",
    "sklearn.utils.estimator_checks": "test helpers",
    "xgboost.dask": "starts cluster clients",
    "xgboost.spark": "starts Spark jobs",
    "xgboost.collective": _NET,
    "xgboost.federated": _NET,
    "lightgbm.dask": "starts cluster clients",
    "lightgbm.plotting": _FILES,
    "scipy.sparse._matrix_io": _FILES,
}

_CLOUDPICKLE = "cloudpickle rebuilds functions or classes from code in the file: loading can run it"


def normalize(module: str, name: str) -> tuple[str, str]:
    """The names a protocol 0-2 load imports: Python 2 names mapped like ``pickle`` does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@cache
def _glob(pattern: str) -> Callable[[str], bool]:
    """``fnmatchcase(text, pattern)`` as a function; the usual shapes (a plain name, ``*``,
    ``prefix*``) without compiling a regular expression: most patterns are seen once
    per process, and compiling each cost more than the whole match."""
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    if pattern == "*":
        return lambda text: True
    if pattern.endswith("*") and not any(c in pattern[:-1] for c in "*?["):
        return partial(_startswith, prefix=pattern[:-1])
    return partial(fnmatchcase, pat=pattern)


def _startswith(text: str, prefix: str) -> bool:
    return text.startswith(prefix)


def _match(patterns: Iterable[str], module: str, name: str) -> str | None:
    for pattern in patterns:
        mod_pat, _, name_pat = pattern.partition(":")
        if "." in name and "." not in name_pat:
            continue
        if _glob(mod_pat)(module) and _glob(name_pat)(name):
            return pattern
    return None


def _denied(module: str, name: str) -> str | None:
    for prefix, reason in DENY_MODULES.items():
        if _under(module, prefix):
            return f"module {prefix} {reason}"
    pattern = _match(DENY_NAMES, module, name)
    if pattern:
        return DENY_NAMES[pattern]
    for part in name.split("."):
        if (
            len(part) > 4
            and part.startswith("__")
            and part.endswith("__")
            and part not in ("__newobj__", "__newobj_ex__")
        ):
            return f"reaches the special attribute {part}"
        if part in _DANGEROUS_NAMES:
            return f"{part!r} {_DANGEROUS_NAMES[part]}"
        if part in DENY_MODULES:
            return f"reaches module {part}, which {DENY_MODULES[part]}"
    return None


@lru_cache(maxsize=4096)
def classify(module: str, name: str, frameworks: frozenset[str]) -> tuple[Verdict, str]:
    """The verdict on one global for a set of (already expanded) framework allow-lists."""
    if module == "?":
        return Verdict.DANGEROUS, "global name is built at load time and cannot be checked"
    mapped = normalize(module, name)
    for mod, nm in {(module, name), mapped}:
        reason = _denied(mod, nm)
        if reason:
            return Verdict.DANGEROUS, f"denied: {reason}"
    module, name = mapped
    if _under(module, "cloudpickle"):
        return Verdict.UNKNOWN, _CLOUDPICKLE
    if _under(module, "__torch__"):
        return Verdict.UNKNOWN, "TorchScript class: loading runs its compiled code"
    for prefix, reason in UNTRUSTED.items():
        if _under(module, prefix):
            return Verdict.UNKNOWN, f"not trusted: {prefix} {reason}"
    for framework in sorted(frameworks):
        if _match(ALLOW.get(framework, ()), module, name):
            return Verdict.SAFE, f"allowed for {framework}"
    names = ", ".join(sorted(frameworks)) or "none"
    return Verdict.UNKNOWN, f"not on the allow-lists ({names})"


def expand_frameworks(frameworks: Iterable[str] | None) -> frozenset[str]:
    """Requested frameworks plus the lists they imply and "generic"; None means all lists."""
    if frameworks is None:
        return frozenset(ALLOW)
    wanted = {"generic"}
    for framework in frameworks:
        wanted.add(framework)
        wanted.update(IMPLIES.get(framework, ()))
    return frozenset(wanted)


def judge(
    globals: Iterable[GlobalRef], frameworks: Iterable[str] | None
) -> tuple[Verdict, list[Finding]]:
    """Verdict on a list of globals: the worst of them, with one finding per
    distinct unsafe global (first occurrence). Framework names without an
    allow-list (keras, onnx...) add nothing; None allows every list.
    """
    lists = expand_frameworks(frameworks)
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for ref in globals:
        key = (ref.module, ref.name, ref.where)
        if key in seen:
            continue
        seen.add(key)
        severity, reason = classify(ref.module, ref.name, lists)
        if severity is not Verdict.SAFE:
            findings.append(Finding(ref, severity, reason))
    return worst(f.severity for f in findings), findings
