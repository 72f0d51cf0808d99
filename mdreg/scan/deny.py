"""What is always dangerous, allowed or not: modules, names, and names that mean danger
in whatever module they live. Judged in ``mdreg.scan.policy``; DENY wins over ALLOW."""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


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
