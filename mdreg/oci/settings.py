"""What mdreg needs to know to talk to OCI, and where each value comes from.

Each setting is taken from the first place that has it:

1. a command-line flag (``--auth``, ``--profile``, ``--config-file``, ``--compartment-id``,
   ...), handed to the library as ``OciOptions`` (directly, or for a whole command with
   ``using(options)``);
2. the environment: the variables ADS and OCI notebooks/jobs set (``OCI_IAM_TYPE``,
   ``OCI_CONFIG_LOCATION``, ``OCI_CONFIG_PROFILE``, ``OCI_RESOURCE_REGION``,
   ``NB_SESSION_COMPARTMENT_OCID``, ``PROJECT_OCID``, ...) and mdreg's own ``MDREG_OCI_*``;
3. the ``[oci]`` table of the config file, ``$MDREG_CONFIG`` or ``$MDREG_HOME/config.toml``::

       catalog = "oci"                      # the default catalog (else "local")

       [oci]
       auth = "api_key"                     # api_key | security_token | resource_principal | instance_principal
       config_file = "~/.oci/config"
       profile = "DEFAULT"
       region = "us-ashburn-1"              # else the profile's / the principal's region
       compartment_id = "ocid1.compartment.oc1..."
       project_id = "ocid1.datascienceproject.oc1..."
       bucket = "oci://bucket@namespace/mdreg-tmp/"   # where large artifacts travel on load
       part_size = "128MiB"                 # multipart upload part size
       min_part_size = "10MiB"              # no part but the last smaller (lower: emulators)
       parallelism = 8                      # parts uploaded at once
       max_attempts = 5                     # tries per request (first one included)

       [oci.endpoints]                      # private endpoints, test servers
       data_science = "https://..."
       object_storage = "https://..."
       auth = "https://..."                 # instance principals' federation (auth) service

4. the defaults below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mdreg.errors import UsageError
from mdreg.home import mdreg_home

AUTH_TYPES = ("api_key", "security_token", "resource_principal", "instance_principal")
ENDPOINT_SERVICES = ("data_science", "object_storage", "auth")
ENV_CONFIG = "MDREG_CONFIG"
MIB = 1 << 20
GIB = 1 << 30
MAX_PARTS = 10_000  # Object Storage's limit on parts per multipart upload
# The smallest part Object Storage takes but the last: "Object Storage waives the minimum
# part size restriction for the last uploaded part" (docs.oracle.com, "Running a Multipart
# Upload"); the figure its pages give is 10 MiB. A commit with a shorter part before the
# last is refused. ``OciSettings.min_part_size`` (lowered only for an emulator) defaults to it.
MIN_PART_SIZE = 10 * MIB

# setting -> environment variables, first set wins
_ENV: dict[str, tuple[str, ...]] = {
    "auth": ("OCI_IAM_TYPE",),
    "config_file": ("OCI_CONFIG_LOCATION",),
    "profile": ("OCI_CONFIG_PROFILE",),
    "region": ("OCI_RESOURCE_REGION", "MDREG_OCI_REGION"),
    "compartment_id": (
        "MDREG_OCI_COMPARTMENT_ID",
        "NB_SESSION_COMPARTMENT_OCID",
        "JOB_RUN_COMPARTMENT_OCID",
        "PIPELINE_RUN_COMPARTMENT_OCID",
        "PROJECT_COMPARTMENT_OCID",
    ),
    "project_id": ("MDREG_OCI_PROJECT_ID", "PROJECT_OCID"),
    "bucket": ("MDREG_OCI_BUCKET",),
    "part_size": ("MDREG_OCI_PART_SIZE",),
    "min_part_size": ("MDREG_OCI_MIN_PART_SIZE",),
    "parallelism": ("MDREG_OCI_PARALLELISM",),
    "max_attempts": ("MDREG_OCI_MAX_ATTEMPTS",),
    "retry_base_seconds": ("MDREG_OCI_RETRY_BASE_SECONDS",),
    "poll_seconds": ("MDREG_OCI_POLL_SECONDS",),
    "max_direct_bytes": ("MDREG_OCI_MAX_DIRECT_BYTES",),
}
_ENDPOINT_ENV = {s: f"MDREG_OCI_{s.upper()}_ENDPOINT" for s in ENDPOINT_SERVICES}


@dataclass(frozen=True)
class OciSettings:
    """Everything the OCI backends read; build it with ``resolve()``."""

    auth: str = "api_key"
    config_file: str = "~/.oci/config"
    profile: str = "DEFAULT"
    region: str | None = None
    compartment_id: str | None = None
    project_id: str | None = None
    bucket: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    part_size: int = 128 * MIB
    min_part_size: int = MIN_PART_SIZE  # no part but the last is shorter
    parallelism: int = 8
    max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    poll_seconds: float = 5.0
    work_request_timeout_seconds: float = 3 * 3600.0
    max_direct_bytes: int = 2 * GIB  # larger artifacts travel through a bucket
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 120.0

    def endpoint(self, service: str) -> str | None:
        return self.endpoints.get(service) or None

    def require_compartment(self) -> str:
        if not self.compartment_id:
            raise UsageError(
                "no OCI compartment: give --compartment-id, set "
                "NB_SESSION_COMPARTMENT_OCID, or add compartment_id to the [oci] "
                f"table of {config_path()}"
            )
        return self.compartment_id

    def require_project(self) -> str:
        if not self.project_id:
            raise UsageError(
                "no Data Science project: give --project-id, set PROJECT_OCID, or "
                f"add project_id to the [oci] table of {config_path()}"
            )
        return self.project_id


@dataclass(frozen=True)
class OciOptions:
    """Values a caller chose explicitly (command-line flags); None: not chosen."""

    auth: str | None = None
    config_file: str | None = None
    profile: str | None = None
    region: str | None = None
    compartment_id: str | None = None
    project_id: str | None = None
    bucket: str | None = None
    data_science_endpoint: str | None = None
    object_storage_endpoint: str | None = None
    part_size: int | str | None = None
    parallelism: int | None = None


_OPTIONS: ContextVar[OciOptions] = ContextVar("mdreg_oci_options", default=OciOptions())  # noqa: B039 - frozen


@contextmanager
def using(options: OciOptions) -> Iterator[None]:
    """Make ``options`` the explicit choices of every OCI catalog or bucket opened inside
    the block (the CLI wraps each command in it)."""
    token = _OPTIONS.set(options)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def current_options() -> OciOptions:
    return _OPTIONS.get()


def resolve(
    options: OciOptions | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> OciSettings:
    """The settings from ``options`` (default: those of ``using``), the environment and
    the config file, in that order of precedence."""
    opts = options if options is not None else current_options()
    env = os.environ if environ is None else environ
    table = _oci_table(read_config() if config is None else config)
    values: dict[str, Any] = {}
    flag_values = {f.name: getattr(opts, f.name) for f in fields(opts)}
    for f in fields(OciSettings):
        name = f.name
        if name == "endpoints":
            continue
        value = flag_values.get(name)
        if value is None:
            value = next((env[v] for v in _ENV.get(name, ()) if env.get(v)), None)
        if value is None:
            value = table.get(name)
        if value is not None:
            values[name] = _convert(name, value)
    endpoints = {}
    file_endpoints = table.get("endpoints") or {}
    for service in ENDPOINT_SERVICES:
        value = (
            flag_values.get(f"{service}_endpoint")
            or env.get(_ENDPOINT_ENV[service])
            or file_endpoints.get(service)
        )
        if value:
            endpoints[service] = str(value).rstrip("/")
    settings = replace(OciSettings(), **values, endpoints=endpoints)
    _check(settings)
    return settings


# -- the config file ----------------------------------------------------------------------


def config_path() -> Path:
    value = os.environ.get(ENV_CONFIG)
    if value:
        return Path(value).expanduser()
    return mdreg_home() / "config.toml"


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file as a dict ({} when there is none)."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    import tomllib  # only when a config file exists

    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    catalog = doc.get("catalog")
    if catalog is not None and not isinstance(catalog, str):
        raise UsageError(f'{path}: catalog must be a string such as "oci" or "local"')
    return doc


def configured_catalog() -> str | None:
    """The ``catalog`` key of the config file, or None."""
    path = config_path()
    if not path.is_file():
        return None
    return read_config(path).get("catalog")


_KNOWN_KEYS = {f.name for f in fields(OciSettings)}


def _oci_table(doc: Mapping[str, Any]) -> dict[str, Any]:
    table = doc.get("oci") or {}
    if not isinstance(table, dict):
        raise UsageError(f"{config_path()}: [oci] must be a table")
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise UsageError(
            f"{config_path()}: unknown key(s) in [oci]: {', '.join(unknown)}; known: "
            f"{', '.join(sorted(_KNOWN_KEYS))}"
        )
    endpoints = table.get("endpoints") or {}
    if not isinstance(endpoints, dict) or set(endpoints) - set(ENDPOINT_SERVICES):
        raise UsageError(
            f"{config_path()}: [oci.endpoints] takes {', '.join(ENDPOINT_SERVICES)} (URLs)"
        )
    return table


# -- values -----------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_UNITS = {"b": 1, "kb": 10**3, "kib": 1 << 10, "mb": 10**6, "mib": MIB, "gb": 10**9, "gib": GIB}
_INTS = {"parallelism", "max_attempts"}
_FLOATS = {
    "retry_base_seconds",
    "retry_max_seconds",
    "poll_seconds",
    "work_request_timeout_seconds",
    "connect_timeout_seconds",
    "read_timeout_seconds",
}
_SIZES = {"part_size", "min_part_size", "max_direct_bytes"}


def parse_size(text: str | int, what: str = "size") -> int:
    """``8MiB``, ``128MB``, ``1048576`` -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise UsageError(f"{what} {text!r}: write a number of bytes, or e.g. 8MiB, 128MB, 1GiB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def _convert(name: str, value: Any) -> Any:
    try:
        if name in _SIZES:
            return parse_size(value, name.replace("_", " "))
        if name in _INTS:
            return int(value)
        if name in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"OCI setting {name}={value!r}: expected a number") from None
    if not isinstance(value, str):
        raise UsageError(f"OCI setting {name}={value!r}: expected a string")
    return value.strip().lower() if name == "auth" else value


def _check(s: OciSettings) -> None:
    if s.auth not in AUTH_TYPES:
        raise UsageError(f"unknown OCI auth {s.auth!r}: choose one of {', '.join(AUTH_TYPES)}")
    if not 0 <= s.min_part_size <= 50 * GIB:
        raise UsageError(f"min_part_size {_size(s.min_part_size)}: choose 0 to 50 GiB")
    if s.part_size < s.min_part_size:
        floor = _size(s.min_part_size)
        raise UsageError(
            f"part_size {_size(s.part_size)} is below Object Storage's minimum part size "
            f"(min_part_size = {floor}): choose {floor} to 50 GiB"
        )
    if not MIB <= s.part_size <= 50 * GIB:  # a part holds a zip entry's whole local header
        raise UsageError(f"part_size {_size(s.part_size)}: choose 1 MiB to 50 GiB")
    if not 1 <= s.parallelism <= 64:
        raise UsageError(f"parallelism {s.parallelism}: choose 1 to 64")
    if not 1 <= s.max_attempts <= 20:
        raise UsageError(f"max_attempts {s.max_attempts}: choose 1 to 20")
    if s.retry_base_seconds < 0 or s.poll_seconds < 0:
        raise UsageError("retry_base_seconds and poll_seconds must be 0 or more")
    for service, url in s.endpoints.items():
        if not url.startswith(("http://", "https://")):
            raise UsageError(
                f"the {service} endpoint {url!r} must start with https:// (or http://)"
            )


def _size(n: int) -> str:
    return f"{n // MIB} MiB" if n and n % MIB == 0 else f"{n} bytes"
