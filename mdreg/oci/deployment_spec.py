"""What a model deployment is asked to be, checked against the service's documented limits
before any call, and what mdreg reports of one (no ``oci`` import here).

The limits, and where they are written down:

- display name: at most 255 characters ("Creating a Model Deployment": "limit of 255
  characters");
- instances: at least 1 (``FixedSizeScalingPolicy.instance_count``, "the number of
  instances"); no maximum is documented: the tenancy's service limits for the shape decide,
  so the service judges it;
- load balancer bandwidth: 10 to 8,000 Mbps, the deployment's load balancer being a
  flexible OCI load balancer (Load Balancer API, ``ShapeDetails``: the minimum "between 10
  and the maximumBandwidthInMbps", the maximum "between minimumBandwidthInMbps and 8000
  (8Gbps)"); it changes only while the deployment is INACTIVE
  (``DataScienceClient.update_model_deployment``: shape, instance count and model change
  with zero downtime while ACTIVE or NEEDS_ATTENTION; "all of the fields" while INACTIVE);
- flex shapes: OCPUs and memory per shape (``ModelDeploymentInstanceShapeConfigDetails``:
  E3/E4.Flex 1-64 OCPUs and 6-1024 GB, Standard3.Flex 1-32 and 6-512 GB, Optimized3.Flex
  1-18 and 6-256 GB; "Supported Compute Shapes": A1.Flex 1-80 OCPUs, and for model
  deployments at most 64 GB per OCPU);
- environment variables ("Model Deployment Environment Variables"): keys of 2 to 31
  letters, digits and underscores, starting with a letter, not ending with an underscore,
  none of the service's own; all of them together at most 2,048 bytes;
- the predict body: 10 MB (``flows/predict.MAX_BODY_BYTES``).

The inference conda pack has no field in the API: the service's managed (``DEFAULT``)
container installs the pack the artifact's runtime.yaml names (``INFERENCE_ENV_PATH``),
and ``DefaultModelDeploymentEnvironmentConfigurationDetails`` carries only environment
variables. mdreg reads runtime.yaml before creating anything; a pack named with
``--conda-env`` must be the one runtime.yaml names.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mdreg.errors import UsageError

MAX_DISPLAY_NAME = 255
MIN_INSTANCES = 1
MIN_BANDWIDTH_MBPS, MAX_BANDWIDTH_MBPS = 10, 8000
# ADS's defaults (ads.model.deployment.model_deployment_infrastructure)
DEFAULT_SHAPE = "VM.Standard.E4.Flex"
DEFAULT_OCPUS, DEFAULT_MEMORY_GB = 1.0, 16.0
DEFAULT_BANDWIDTH_MBPS = 10
MIN_FLEX_MEMORY_GB, MAX_FLEX_MEMORY_PER_OCPU = 6.0, 64.0
# shape -> (max OCPUs, max memory GB)
FLEX_SHAPES = {
    "VM.Standard.E3.Flex": (64.0, 1024.0),
    "VM.Standard.E4.Flex": (64.0, 1024.0),
    "VM.Standard3.Flex": (32.0, 512.0),
    "VM.Optimized3.Flex": (18.0, 256.0),
    "VM.Standard.A1.Flex": (80.0, 1024.0),
}
MAX_ENV_BYTES = 2048
RESERVED_ENV = (
    "MODEL_DEPLOYMENT_OCID",
    "MODEL_SERVING_PYTHON_VERSION",
    "TENANCY_OCID",
    "CONTAINER_CUSTOM_IMAGE",
)
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,29}[A-Za-z0-9]")
MODEL_PREFIX = "ocid1.datasciencemodel."
DEPLOYMENT_PREFIX = "ocid1.datasciencemodeldeployment."


def is_flex(shape: str) -> bool:
    return shape.endswith(".Flex")


def is_deployment_id(text: str) -> bool:
    return text.startswith(DEPLOYMENT_PREFIX)


@dataclass
class LogIds:
    """One log category (access or predict): both ids, or neither."""

    log_id: str | None = None
    log_group_id: str | None = None

    def check(self, kind: str) -> None:
        if bool(self.log_id) != bool(self.log_group_id):
            missing = "group id" if self.log_id else "id"
            raise UsageError(
                f"the {kind} log needs both ids: add --{kind}-log-{missing.replace(' ', '-')}"
            )
        if self.log_id and not self.log_id.startswith("ocid1.log."):
            raise UsageError(f"--{kind}-log-id {self.log_id!r} is not a log OCID (ocid1.log...)")
        if self.log_group_id and not self.log_group_id.startswith("ocid1.loggroup."):
            raise UsageError(
                f"--{kind}-log-group-id {self.log_group_id!r} is not a log group OCID "
                "(ocid1.loggroup...)"
            )

    @property
    def given(self) -> bool:
        return bool(self.log_id)


@dataclass
class DeploySpec:
    """A new deployment of ``model_id``; ``check()`` applies the limits above."""

    model_id: str = ""
    display_name: str | None = None
    description: str | None = None
    shape: str = DEFAULT_SHAPE
    instance_count: int = 1
    bandwidth_mbps: int = DEFAULT_BANDWIDTH_MBPS
    ocpus: float | None = None  # flex shapes; default DEFAULT_OCPUS
    memory_gb: float | None = None  # flex shapes; default DEFAULT_MEMORY_GB
    access_log: LogIds = field(default_factory=LogIds)
    predict_log: LogIds = field(default_factory=LogIds)
    environment: dict[str, str] = field(default_factory=dict)
    conda_env: str | None = None  # the pack runtime.yaml must name (slug or oci:// path)
    compartment_id: str | None = None
    project_id: str | None = None
    freeform_tags: dict[str, str] = field(default_factory=dict)

    def check(self, *, need_model: bool = True) -> None:
        if need_model:
            check_model_id(self.model_id)
        check_display_name(self.display_name)
        check_instances(self.instance_count)
        check_bandwidth(self.bandwidth_mbps)
        self.ocpus, self.memory_gb = flex_config(self.shape, self.ocpus, self.memory_gb)
        self.access_log.check("access")
        self.predict_log.check("predict")
        check_environment(self.environment)


@dataclass
class DeploymentChange:
    """``mdreg deployments update``: None leaves a field as it is."""

    model_id: str | None = None
    shape: str | None = None
    ocpus: float | None = None
    memory_gb: float | None = None
    instance_count: int | None = None
    bandwidth_mbps: int | None = None
    display_name: str | None = None

    def check(self) -> None:
        if self.model_id is not None:
            check_model_id(self.model_id)
        check_display_name(self.display_name)
        if self.instance_count is not None:
            check_instances(self.instance_count)
        if self.bandwidth_mbps is not None:
            check_bandwidth(self.bandwidth_mbps)
        if self.shape is not None and not self.shape.strip():
            raise UsageError("--shape: give a shape name such as VM.Standard.E4.Flex")
        for name, value in (("--ocpus", self.ocpus), ("--memory-gb", self.memory_gb)):
            if value is not None and value <= 0:
                raise UsageError(f"{name} {value:g}: give a positive number")
        if all(v is None for v in asdict(self).values()):
            raise UsageError(
                "nothing to update: give --instance-count, --shape (--ocpus, --memory-gb), "
                "--model-id, --bandwidth-mbps or --display-name"
            )

    @property
    def changes_instances(self) -> bool:
        return any(v is not None for v in (self.shape, self.ocpus, self.memory_gb))


def check_model_id(model_id: str) -> None:
    if not model_id.startswith(MODEL_PREFIX):
        raise UsageError(
            f"{model_id!r} is not an OCI model id: a deployment serves a model of the OCI "
            "catalog (ocid1.datasciencemodel...); save it there first (`mdreg save "
            "--catalog oci`)"
        )


def check_display_name(name: str | None) -> None:
    if name is not None and len(name) > MAX_DISPLAY_NAME:
        raise UsageError(
            f"--display-name is {len(name)} characters; a model deployment's name takes "
            f"at most {MAX_DISPLAY_NAME}"
        )


def check_instances(count: int) -> None:
    if count < MIN_INSTANCES:
        raise UsageError(f"--instance-count {count}: a deployment runs at least 1 instance")


def check_bandwidth(mbps: int) -> None:
    if not MIN_BANDWIDTH_MBPS <= mbps <= MAX_BANDWIDTH_MBPS:
        raise UsageError(
            f"--bandwidth-mbps {mbps}: the deployment's load balancer takes "
            f"{MIN_BANDWIDTH_MBPS} to {MAX_BANDWIDTH_MBPS} Mbps"
        )


def flex_config(
    shape: str, ocpus: float | None, memory_gb: float | None
) -> tuple[float | None, float | None]:
    """(OCPUs, memory) to send for ``shape``: defaults for a flex shape, None for a fixed
    one; UsageError for values outside the shape's documented ranges."""
    if not is_flex(shape):
        if ocpus is not None or memory_gb is not None:
            raise UsageError(
                f"--ocpus and --memory-gb apply to flex shapes (*.Flex); {shape} is fixed"
            )
        return None, None
    ocpus = DEFAULT_OCPUS if ocpus is None else ocpus
    memory_gb = DEFAULT_MEMORY_GB if memory_gb is None else memory_gb
    max_ocpus, max_memory = FLEX_SHAPES.get(shape, (None, None))
    if ocpus < 1 or (max_ocpus is not None and ocpus > max_ocpus):
        top = f"{max_ocpus:g}" if max_ocpus is not None else "the shape's maximum"
        raise UsageError(f"--ocpus {ocpus:g}: {shape} takes 1 to {top} OCPUs")
    top_memory = min(MAX_FLEX_MEMORY_PER_OCPU * ocpus, max_memory or float("inf"))
    if not MIN_FLEX_MEMORY_GB <= memory_gb <= top_memory:
        raise UsageError(
            f"--memory-gb {memory_gb:g}: {shape} with {ocpus:g} OCPUs takes "
            f"{MIN_FLEX_MEMORY_GB:g} to {top_memory:g} GB (at most "
            f"{MAX_FLEX_MEMORY_PER_OCPU:g} GB per OCPU)"
        )
    return ocpus, memory_gb


def check_environment(env: dict[str, str]) -> None:
    for key in env:
        if key in RESERVED_ENV:
            raise UsageError(f"--env {key}: the service sets {key} itself")
        if not _ENV_KEY.fullmatch(key):
            raise UsageError(
                f"--env {key!r}: a key is 2 to 31 letters, digits and underscores, starting "
                "with a letter and not ending with an underscore"
            )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in env.items())
    if size > MAX_ENV_BYTES:
        raise UsageError(
            f"--env: the variables take {size} bytes; a deployment takes at most "
            f"{MAX_ENV_BYTES} (put larger settings in the artifact)"
        )


@dataclass
class Deployment:
    """A model deployment as mdreg reports it (``--json``: ``to_dict``)."""

    id: str
    display_name: str
    lifecycle_state: str
    lifecycle_details: str | None
    url: str
    model_id: str | None
    shape: str | None
    ocpus: float | None
    memory_gb: float | None
    instance_count: int | None
    bandwidth_mbps: int | None
    environment: dict[str, str]
    access_log_id: str | None
    predict_log_id: str | None
    time_created: str
    created_by: str
    compartment_id: str | None
    project_id: str | None
    description: str | None = None
    freeform_tags: dict[str, str] = field(default_factory=dict)

    @property
    def predict_url(self) -> str:
        return self.url.rstrip("/") + "/predict" if self.url else ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "predict_url": self.predict_url}
