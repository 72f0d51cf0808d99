"""The Model Deployment API's field checks, as the service documents them: the name
(255), the bandwidth (10-8000 Mbps), instances (>= 1), flex shapes' OCPU and memory
ranges, the shapes a deployment runs on, log details, environment variables (keys and
2,048 bytes). Errors are the service's 400s."""

from __future__ import annotations

import re
from typing import Any

from tests.oci_server.store import ApiError

FLEX = {  # shape -> (max OCPUs, max GB)
    "VM.Standard.E3.Flex": (64, 1024),
    "VM.Standard.E4.Flex": (64, 1024),
    "VM.Standard3.Flex": (32, 512),
    "VM.Optimized3.Flex": (18, 256),
    "VM.Standard.A1.Flex": (80, 1024),
}
FIXED = ("VM.Standard2.1", "VM.Standard2.2", "VM.Standard2.4", "VM.GPU.A10.1", "VM.GPU3.1")
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,29}[A-Za-z0-9]")


def bad(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def check_instance(ic: dict[str, Any]) -> None:
    shape = ic.get("instanceShapeName")
    if not shape:
        raise ApiError(
            400, "MissingParameter", "instanceConfiguration.instanceShapeName is required"
        )
    flex = ic.get("modelDeploymentInstanceShapeConfigDetails")
    if shape in FLEX:
        if flex:
            ocpus, memory = float(flex.get("ocpus") or 1), float(flex.get("memoryInGBs") or 16)
            top_ocpus, top_memory = FLEX[shape]
            if not 1 <= ocpus <= top_ocpus:
                raise bad(f"{shape} takes 1 to {top_ocpus} OCPUs, not {ocpus:g}")
            if not 6 <= memory <= min(top_memory, 64 * ocpus):
                raise bad(
                    f"{shape} with {ocpus:g} OCPUs takes 6 to {min(top_memory, 64 * ocpus):g} GB"
                )
    elif shape in FIXED:
        if flex:
            raise bad(
                f"{shape} is not a flex shape: remove modelDeploymentInstanceShapeConfigDetails"
            )
    else:
        raise bad(f"The shape {shape} is not supported for model deployments")


def check_config(cfg: dict[str, Any], *, update: bool = False) -> None:
    if cfg.get("deploymentType") != "SINGLE_MODEL":
        raise bad("deploymentType must be SINGLE_MODEL (this test server's only kind)")
    mc = cfg.get("modelConfigurationDetails") or {}
    if not mc.get("modelId"):
        raise ApiError(400, "MissingParameter", "modelConfigurationDetails.modelId is required")
    if "instanceConfiguration" in mc or not update:
        check_instance(mc.get("instanceConfiguration") or {})
    policy = mc.get("scalingPolicy")
    if policy is not None:
        if policy.get("policyType") != "FIXED_SIZE":
            raise bad("scalingPolicy.policyType must be FIXED_SIZE")
        if int(policy.get("instanceCount") or 0) < 1:
            raise bad("scalingPolicy.instanceCount must be at least 1")
    bw = mc.get("bandwidthMbps")
    if bw is not None and not 10 <= int(bw) <= 8000:
        raise bad("bandwidthMbps must be between 10 and 8000")
    env = cfg.get("environmentConfigurationDetails")
    if env is not None:
        if env.get("environmentConfigurationType") != "DEFAULT":
            raise bad("environmentConfigurationType must be DEFAULT (conda)")
        variables = env.get("environmentVariables") or {}
        for key in variables:
            if not _ENV_KEY.fullmatch(key) or key in ("MODEL_DEPLOYMENT_OCID", "TENANCY_OCID"):
                raise bad(f"Invalid environment variable key {key!r}")
        if sum(len(k) + len(v) for k, v in variables.items()) > 2048:
            raise bad("The environment variables are over 2048 bytes")


def check_common(b: dict[str, Any]) -> None:
    if b.get("displayName") is not None and len(b["displayName"]) > 255:
        raise bad("displayName must be at most 255 characters")
    logs = b.get("categoryLogDetails") or {}
    for kind in ("access", "predict"):
        entry = logs.get(kind)
        if entry is not None and not (entry.get("logId") and entry.get("logGroupId")):
            raise ApiError(
                400, "MissingParameter", f"categoryLogDetails.{kind} needs logId and logGroupId"
            )
