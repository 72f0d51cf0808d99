"""SDK clients built from ``OciSettings``: one set per catalog or bucket.

Choices made here, for every client:

- ``service_endpoint`` from the endpoint settings when given (private endpoints, the test
  server); otherwise the SDK derives it from the region.
- the SDK retry strategy of ``mdreg.oci.retry.sdk_strategy`` for JSON calls.
- no circuit breaker: the SDK's default one is process-wide and opens after ten failures,
  which would turn a burst of retried part uploads into a failed upload; mdreg's retries
  are bounded per request instead.
- a connection pool as large as the upload parallelism (as the SDK's UploadManager does).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from mdreg.errors import UsageError
from mdreg.oci.auth import Credentials, credentials
from mdreg.oci.retry import sdk_strategy
from mdreg.oci.settings import OciSettings


class OciClients:
    """Credentials (loaded now, so that a bad profile fails before any work) and lazily
    created Data Science and Object Storage clients."""

    def __init__(self, settings: OciSettings) -> None:
        require_sdk()
        self.settings = settings
        self.credentials: Credentials = credentials(settings)

    @property
    def region(self) -> str | None:
        return self.settings.region or self.credentials.region

    @cached_property
    def data_science(self) -> Any:
        import oci

        return self._make(oci.data_science.DataScienceClient, "data_science")

    @cached_property
    def object_storage(self) -> Any:
        import oci

        return self._make(oci.object_storage.ObjectStorageClient, "object_storage")

    def _make(self, cls: Any, service: str) -> Any:
        import oci

        endpoint = self.settings.endpoint(service)
        config = dict(self.credentials.config)
        if not endpoint and not self.region:
            raise UsageError(
                f"no OCI region for the {service.replace('_', ' ')} service: set region "
                "in the config profile or [oci] table, or OCI_RESOURCE_REGION"
            )
        if self.region:
            config["region"] = self.region
        kwargs: dict[str, Any] = {
            "signer": self.credentials.signer,
            "retry_strategy": sdk_strategy(self.settings),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (self.settings.connect_timeout_seconds, self.settings.read_timeout_seconds),
        }
        if endpoint:
            kwargs["service_endpoint"] = endpoint
        try:
            client = cls(config, **kwargs)
        except (ValueError, oci.exceptions.ClientError) as exc:
            raise UsageError(f"cannot set up the OCI {service} client: {exc}") from exc
        _size_pool(client, max(10, 2 * self.settings.parallelism))
        return client

    def close(self) -> None:
        for name in ("data_science", "object_storage"):
            client = self.__dict__.pop(name, None)
            if client is not None:
                try:
                    client.base_client.session.close()
                except Exception:  # noqa: BLE001, S110 - closing is best effort
                    pass


def require_sdk() -> None:
    """UsageError with the install hint when the ``oci`` package is missing."""
    import importlib.util

    if importlib.util.find_spec("oci") is None:
        raise UsageError("talking to OCI needs the oci SDK: pip install 'mdreg[oci]'")


def _size_pool(client: Any, size: int) -> None:
    """Mount adapters whose pools hold ``size`` connections, keeping the SDK's HTTPS
    adapter class (as its UploadManager does)."""
    from oci._vendor import requests

    session = client.base_client.session
    for scheme in ("https://", "http://"):
        current = session.adapters.get(scheme)
        cls = (
            type(current)
            if getattr(current, "preserves_oci_https_adapter_behavior", False)
            else requests.adapters.HTTPAdapter
        )
        session.mount(scheme, cls(pool_connections=10, pool_maxsize=size))
