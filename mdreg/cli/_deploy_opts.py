"""What ``mdreg deploy`` and ``mdreg save --deploy`` share: the deployment's options (each
defined once, as ``Annotated`` types), the request built from them, the progress line
and the printed result."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

ShapeOpt = Annotated[
    str,
    typer.Option(
        "--shape", help="Compute shape of each instance (flex shapes take --ocpus, --memory-gb)."
    ),
]
InstancesOpt = Annotated[
    int, typer.Option("--instance-count", help="Instances serving the model (1 or more).")
]
BandwidthOpt = Annotated[
    int, typer.Option("--bandwidth-mbps", help="Load balancer bandwidth, 10 to 8000 Mbps.")
]
OcpusOpt = Annotated[
    float | None,
    typer.Option(
        "--ocpus", help="OCPUs of each instance, flex shapes [default: 1].", show_default=False
    ),
]
MemoryOpt = Annotated[
    float | None,
    typer.Option(
        "--memory-gb",
        help="Memory of each instance in GB, flex shapes [default: 16].",
        show_default=False,
    ),
]
AccessLogOpt = Annotated[
    str | None, typer.Option("--access-log-id", help="Log OCID for the access log.")
]
AccessGroupOpt = Annotated[
    str | None, typer.Option("--access-log-group-id", help="Log group OCID of --access-log-id.")
]
PredictLogOpt = Annotated[
    str | None, typer.Option("--predict-log-id", help="Log OCID for the predict log.")
]
PredictGroupOpt = Annotated[
    str | None, typer.Option("--predict-log-group-id", help="Log group OCID of --predict-log-id.")
]
EnvOpt = Annotated[
    list[str] | None,
    typer.Option("--env", help="Environment variable KEY=VALUE of the model server (repeat it)."),
]
CondaOpt = Annotated[
    str | None,
    typer.Option(
        "--conda-env",
        help="Conda pack (slug or oci:// path) the deployment must serve with. The service "
        "installs the pack runtime.yaml names (its API has no field for it): another one "
        "is refused before anything is created.",
    ),
]
WaitOpt = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        help="Follow the work request to its end [default: wait].",
        show_default=False,
    ),
]


@dataclass
class DeployOptions:
    shape: str
    instance_count: int
    bandwidth_mbps: int
    ocpus: float | None = None
    memory_gb: float | None = None
    access_log_id: str | None = None
    access_log_group_id: str | None = None
    predict_log_id: str | None = None
    predict_log_group_id: str | None = None
    env: list[str] | None = None
    conda_env: str | None = None
    wait: bool = True

    def spec(self, **extra: Any) -> Any:
        """A checked ``DeploySpec`` (the limits, before any call); ``extra``: its other fields."""
        from mdreg.cli._catalog import parse_pairs
        from mdreg.oci.deployment_spec import DeploySpec, LogIds

        spec = DeploySpec(
            shape=self.shape,
            instance_count=self.instance_count,
            bandwidth_mbps=self.bandwidth_mbps,
            ocpus=self.ocpus,
            memory_gb=self.memory_gb,
            access_log=LogIds(self.access_log_id, self.access_log_group_id),
            predict_log=LogIds(self.predict_log_id, self.predict_log_group_id),
            environment=parse_pairs(self.env, "--env"),
            conda_env=self.conda_env,
            **extra,
        )
        spec.check(need_model=False)
        return spec


class PollLine:
    """The work request's state on stderr as it changes: one line rewritten on a terminal,
    a line per change otherwise (CI logs)."""

    def __init__(self, what: str, quiet: bool = False) -> None:
        self.what, self.quiet, self.last = what, quiet, ""
        self.tty = sys.stderr.isatty()

    def __call__(self, wr: Any) -> None:
        line = f"{self.what}: {wr.status} {float(wr.percent_complete or 0):.0f}%"
        if self.quiet or line == self.last:
            return
        self.last = line
        sys.stderr.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.last and not self.quiet:
            sys.stderr.write("\n")


@dataclass
class SaveDeploy:
    """``mdreg save --deploy``: checked before the save, run after it."""

    options: DeployOptions
    spec: Any

    @classmethod
    def plan(cls, deploy: bool, artifact: Path, options: DeployOptions) -> SaveDeploy | None:
        if not deploy:
            return None
        from mdreg.flows.deploy import folder_conda

        spec = options.spec()
        folder_conda(artifact, options.conda_env)
        return cls(options, spec)

    def require_oci(self, catalog: Any) -> None:
        if catalog.name != "oci":
            from mdreg.errors import UsageError

            raise UsageError(
                f"--deploy deploys from the OCI catalog, not the {catalog.name} one: add "
                "--catalog oci"
            )

    def deploy(self, record: Any, quiet: bool) -> Any:
        from mdreg.errors import MdregError
        from mdreg.flows.deploy import deploy_model

        self.spec.display_name = self.spec.display_name or record.display_name
        line = PollLine(f"deploying {record.id}", quiet)
        try:
            return deploy_model(record.id, self.spec, wait=self.options.wait, on_poll=line)
        except MdregError as exc:
            if exc.args:
                exc.args = (f"saved model {record.id}, but deploying it failed: {exc.args[0]}",)
            raise
        finally:
            line.done()


def report(result: Any) -> None:
    """The deploy's last words: notes on stderr, the predict URL (waited) or the
    deployment's id (not waited) on stdout."""
    from mdreg.cli._output import note

    d = result.deployment
    if result.waited:
        note(f"model deployment {d.id} is {d.lifecycle_state} (conda pack {result.conda_env})")
        typer.echo(d.predict_url)
    else:
        note(
            f"creating model deployment {d.id} (work request {result.work_request_id}); "
            f"`mdreg deployments show {d.id}` tells when it is ACTIVE"
        )
        typer.echo(d.id)
