"""The four ways OCI users authenticate, each turned into what an SDK client takes:
a config dict and a request signer.

    api_key             the config file's profile: user, tenancy, fingerprint, key_file
    security_token      the same profile's security_token_file (``oci session authenticate``)
                        and key_file; an expired token is refused before any request
    resource_principal  inside OCI jobs, notebooks and functions: the SDK reads the
                        OCI_RESOURCE_PRINCIPAL_* variables the service sets
    instance_principal  on OCI compute: the SDK asks the instance metadata service for a
                        certificate (OCI_METADATA_BASE_URL moves it) and trades it for a
                        token at the auth service (the ``auth`` endpoint setting moves it)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from mdreg.errors import InputError, RemoteError, UsageError
from mdreg.oci.settings import OciSettings

_NO_CONFIG_HINT = (
    "create it (`oci setup config`), point --config-file or OCI_CONFIG_LOCATION at "
    "one, or use --auth resource_principal / instance_principal inside OCI"
)


@dataclass
class Credentials:
    config: dict[str, Any]  # what SDK clients take as ``config``
    signer: Any
    region: str | None
    principal: str  # for messages: the profile, or the principal kind


def credentials(settings: OciSettings) -> Credentials:
    """Load the credentials ``settings.auth`` names; UsageError/InputError saying what is
    missing, before any request is made."""
    if settings.auth in ("api_key", "security_token"):
        return _from_config_file(settings)
    if settings.auth == "resource_principal":
        return _resource_principal(settings)
    return _instance_principal(settings)


def _from_config_file(settings: OciSettings) -> Credentials:
    import oci

    path = os.path.expanduser(settings.config_file)
    where = f"{path} [{settings.profile}]"
    if not os.path.isfile(path):
        raise UsageError(
            f"no OCI config file at {path}: the OCI backend needs credentials; " + _NO_CONFIG_HINT
        )
    try:
        config = oci.config.from_file(path, settings.profile)
    except oci.exceptions.ProfileNotFound:
        raise UsageError(
            f"no profile {settings.profile!r} in {path}: choose one with --profile "
            "or OCI_CONFIG_PROFILE"
        ) from None
    except (oci.exceptions.ClientError, ValueError) as exc:
        raise UsageError(f"{where}: {exc}") from exc
    if settings.region:
        config["region"] = settings.region
    needed = ["tenancy", "fingerprint", "key_file"]
    if settings.auth == "api_key":
        needed.append("user")
    else:
        needed.append("security_token_file")
    missing = [
        k
        for k in needed
        if not config.get(k) and not (k == "key_file" and config.get("key_content"))
    ]
    if missing:
        hint = ""
        if settings.auth == "api_key" and config.get("security_token_file"):
            hint = " (the profile has a security_token_file: use --auth security_token)"
        raise UsageError(
            f"{where} lacks {', '.join(missing)}, which --auth {settings.auth} needs{hint}"
        )
    pass_phrase = config.get("pass_phrase")
    try:
        if settings.auth == "api_key":
            signer = oci.signer.Signer(
                tenancy=config["tenancy"],
                user=config["user"],
                fingerprint=config["fingerprint"],
                private_key_file_location=config.get("key_file"),
                pass_phrase=pass_phrase,
                private_key_content=config.get("key_content"),
            )
        else:
            token = _read_token(os.path.expanduser(config["security_token_file"]), where)
            key = oci.signer.load_private_key_from_file(config["key_file"], pass_phrase)
            signer = oci.auth.signers.SecurityTokenSigner(token, key)
    except (oci.exceptions.InvalidPrivateKey, oci.exceptions.MissingPrivateKeyPassphrase) as exc:
        raise InputError(f"{where}: the private key cannot be used: {exc}") from exc
    except OSError as exc:
        raise InputError(f"{where}: cannot read {exc.filename}: {exc.strerror}") from exc
    return Credentials(config, signer, config.get("region"), f"profile {where}")


def _read_token(path: str, where: str) -> str:
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    exp = _token_expiry(token)
    if exp is not None and exp <= time.time():
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(exp))
        raise UsageError(
            f"{where}: the session token expired at {stamp}: run "
            "`oci session refresh` (or `oci session authenticate`)"
        )
    return token


def _token_expiry(token: str) -> float | None:
    try:
        import jwt  # PyJWT, an oci dependency

        return float(jwt.decode(token, options={"verify_signature": False})["exp"])
    except Exception:  # noqa: BLE001 - not a JWT: let the service judge it
        return None


def _resource_principal(settings: OciSettings) -> Credentials:
    import oci

    if not os.environ.get("OCI_RESOURCE_PRINCIPAL_VERSION"):
        raise UsageError(
            "--auth resource_principal works inside OCI jobs, notebooks and functions, "
            "which set OCI_RESOURCE_PRINCIPAL_VERSION and its companions; it is not "
            "set here"
        )
    try:
        signer = oci.auth.signers.get_resource_principals_signer()
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        oci.exceptions.ClientError,
    ) as exc:
        raise UsageError(f"resource principal: {type(exc).__name__}: {exc}") from exc
    except oci.exceptions.ServiceError as exc:
        from mdreg.oci.errors import service_error

        raise service_error(exc, "getting a resource principal token") from exc
    region = settings.region or getattr(signer, "region", None)
    return Credentials({"region": region} if region else {}, signer, region, "resource principal")


def _instance_principal(settings: OciSettings) -> Credentials:
    import oci

    from mdreg.oci.errors import is_network_error, service_error
    from mdreg.oci.retry import sdk_strategy

    # mdreg's bounded retries: the SDK's own metadata-service strategy keeps trying for
    # about 90 s when there is no metadata service (anywhere but on OCI compute)
    kwargs: dict[str, Any] = {
        "retry_strategy": sdk_strategy(settings),
        "federation_client_retry_strategy": sdk_strategy(settings),
    }
    auth = settings.endpoint("auth")
    if auth:
        kwargs["federation_endpoint"] = f"{auth}/v1/x509"
    try:
        signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(**kwargs)
    except oci.exceptions.ServiceError as exc:
        raise service_error(exc, "getting an instance principal token") from exc
    except Exception as exc:  # noqa: BLE001 - the SDK raises requests' errors and RuntimeError
        if is_network_error(exc):
            raise RemoteError(
                "--auth instance_principal: the instance metadata service did not "
                f"answer ({str(exc).splitlines()[0][:200]}); it works only on OCI "
                "compute instances"
            ) from exc
        raise RemoteError(f"--auth instance_principal: {type(exc).__name__}: {exc}") from exc
    region = settings.region or getattr(signer, "region", None)
    return Credentials({"region": region} if region else {}, signer, region, "instance principal")
