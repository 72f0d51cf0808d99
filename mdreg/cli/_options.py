"""The options several commands share, each defined once as an ``Annotated`` type:
``auth: AuthOpt = None`` in a command's signature is the whole ``--auth`` option.

The OCI options go on every command that may talk to OCI. Each flag also reads the
environment variable OCI users (and ADS) already set; the library resolves the rest
(config.toml, defaults): see mdreg/oci/settings.py, and ``_catalog.oci_context``, which
puts the values in force. A command module imports the names it uses at module level:
Typer reads the annotations (strings, under ``from __future__ import annotations``) in
that module's namespace.
"""

from __future__ import annotations

from typing import Annotated

import typer

AuthOpt = Annotated[
    str | None,
    typer.Option(
        "--auth",
        envvar="OCI_IAM_TYPE",
        show_envvar=True,
        help="OCI authentication: api_key, security_token, resource_principal or "
        "instance_principal [default: api_key].",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        envvar="OCI_CONFIG_PROFILE",
        show_envvar=True,
        help="Profile of the OCI config file [default: DEFAULT].",
    ),
]
ConfigFileOpt = Annotated[
    str | None,
    typer.Option(
        "--config-file",
        envvar="OCI_CONFIG_LOCATION",
        show_envvar=True,
        help="OCI config file [default: ~/.oci/config].",
    ),
]
DsEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--data-science-endpoint",
        envvar="MDREG_OCI_DATA_SCIENCE_ENDPOINT",
        show_envvar=True,
        help="Data Science endpoint URL (private endpoints).",
    ),
]
OsEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--object-storage-endpoint",
        envvar="MDREG_OCI_OBJECT_STORAGE_ENDPOINT",
        show_envvar=True,
        help="Object Storage endpoint URL (private endpoints).",
    ),
]
PartSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--part-size",
        envvar="MDREG_OCI_PART_SIZE",
        show_envvar=True,
        help="Multipart upload part size for oci:// buckets, e.g. 64MiB [default: 128MiB].",
    ),
]
ParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        envvar="MDREG_OCI_PARALLELISM",
        show_envvar=True,
        min=1,
        max=64,
        help="Parts uploaded at once to oci:// buckets [default: 8].",
    ),
]

#: ``-q/--quiet`` of the commands that move an artifact (save, load, upload).
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
