"""Who may call the test server, and the credentials tests hand to the SDK.

The server knows principals the way OCI IAM does:

- API keys: ``keyId = TENANCY/USER/FINGERPRINT`` (fingerprint: MD5 of the public key's
  DER, colon-separated hex, as the console shows it) -> the public key;
- session tokens (``keyId = ST$<jwt>``): JWTs the server's own issuer key signed, whose
  ``jwk`` claim holds the public key requests must be signed with. ``oci session
  authenticate`` tokens, resource principal session tokens (RPST, with ``res_tenant`` and
  ``res_compartment`` claims) and instance principal tokens are all of this kind;
- instance principals get their token from the federation endpoint (``POST /v1/x509``),
  signed with the instance's leaf certificate key (``keyId = TENANCY/fed-x509/SHA1``);
  the server checks the certificate chain up to its own CA.

Helpers here also write what a user would have on disk: an OCI config file, a key file,
a session token file.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TENANCY = "ocid1.tenancy.oc1..aaaaaaaatestnancy"
USER = "ocid1.user.oc1..aaaaaaaatestuser"
REGION = "us-ashburn-1"


class AuthError(Exception):
    """Why a request's credentials were refused (the server answers 401)."""


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(public_key: Any) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())  # noqa: S324 - OCI's format


def _b64url_int(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _int_b64url(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def jwk_of(public_key: Any) -> str:
    nums = public_key.public_numbers()
    return json.dumps(
        {
            "kid": uuid.uuid4().hex,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": _b64url_int(nums.n),
            "e": _b64url_int(nums.e),
        }
    )


def key_of_jwk(text: str) -> Any:
    doc = json.loads(text)
    return rsa.RSAPublicNumbers(_int_b64url(doc["e"]), _int_b64url(doc["n"])).public_key()


@dataclass
class Principal:
    id: str  # who the service records as createdBy
    kind: str  # "user", "session", "resource", "instance"
    tenancy: str


class Identity:
    """The server's IAM: API keys, a token issuer, and a CA for instance certificates."""

    def __init__(self, tenancy: str = TENANCY) -> None:
        self.tenancy = tenancy
        self._api_keys: dict[str, tuple[Any, Principal]] = {}
        self._lock = threading.Lock()
        self.issuer = new_key()
        self.ca_key = new_key()
        self.ca_cert = _certificate("mdreg test CA", self.ca_key, self.ca_key, None, ca=True)
        self.instance: InstanceIdentity | None = None

    # -- API keys -------------------------------------------------------------------------
    def add_api_key(self, public_key: Any, user: str = USER) -> str:
        key_id = f"{self.tenancy}/{user}/{fingerprint(public_key)}"
        with self._lock:
            self._api_keys[key_id] = (public_key, Principal(user, "user", self.tenancy))
        return key_id

    # -- tokens ---------------------------------------------------------------------------
    def issue_token(
        self,
        public_key: Any,
        subject: str,
        *,
        ttl: float = 3600,
        kind: str = "session",
        **claims: Any,
    ) -> str:
        import jwt

        now = int(time.time())
        payload = {
            "sub": subject,
            "tenant": self.tenancy,
            "ptype": kind,
            "iat": now,
            "exp": now + int(ttl),
            "jwk": jwk_of(public_key),
            "iss": "authService.oracle.com",
            **claims,
        }
        return jwt.encode(payload, self.issuer, algorithm="RS256")

    def resource_principal_token(
        self, public_key: Any, resource_id: str, compartment: str, ttl: float = 3600
    ) -> str:
        return self.issue_token(
            public_key,
            resource_id,
            ttl=ttl,
            kind="resource",
            res_tenant=self.tenancy,
            res_compartment=compartment,
        )

    # -- verification ---------------------------------------------------------------------
    def key_for(self, key_id: str) -> tuple[Any, Principal]:
        """The public key a request with ``keyId`` must be signed with, and its principal."""
        if key_id.startswith("ST$"):
            import jwt

            try:
                claims = jwt.decode(
                    key_id[3:],
                    self.issuer.public_key(),
                    algorithms=["RS256"],
                    options={"verify_aud": False},
                )
            except jwt.ExpiredSignatureError:
                raise AuthError("the security token has expired") from None
            except jwt.PyJWTError as exc:
                raise AuthError(f"the security token is not valid: {exc}") from None
            kind = claims.get("ptype", "session")
            return key_of_jwk(claims["jwk"]), Principal(
                claims["sub"], kind, claims.get("tenant", "")
            )
        with self._lock:
            found = self._api_keys.get(key_id)
        if found is None:
            raise AuthError(f"unknown keyId {key_id.split('/')[-1]!r}")
        return found

    # -- instance principals --------------------------------------------------------------
    def new_instance(
        self, instance_id: str = "ocid1.instance.oc1.iad.testinstance"
    ) -> InstanceIdentity:
        """An instance identity: leaf and intermediate certificates, served by the IMDS
        routes of the server."""
        inter_key = new_key()
        intermediate = _certificate(
            "mdreg test intermediate", inter_key, self.ca_key, self.ca_cert, ca=True
        )
        leaf_key = new_key()
        leaf = _certificate(
            instance_id,
            leaf_key,
            inter_key,
            intermediate,
            ca=False,
            ou=f"opc-tenant:{self.tenancy}",
            extra_ou=f"opc-instance:{instance_id}",
        )
        self.instance = InstanceIdentity(instance_id, leaf, leaf_key, intermediate)
        return self.instance

    def federate(self, key_id: str, payload: dict[str, Any]) -> tuple[Any, str]:
        """(the certificate's public key, a token) for a federation request: the leaf
        certificate must chain to this CA, carry this tenancy and match ``keyId``."""
        tenancy, kind, fp = [*key_id.split("/"), "", "", ""][:3]
        if kind != "fed-x509":
            raise AuthError("the federation endpoint takes only x509 key ids")
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode(payload["certificate"]))
            inters = [
                x509.load_der_x509_certificate(base64.b64decode(c))
                for c in payload.get("intermediateCertificates") or []
            ]
            session_key = serialization.load_der_public_key(base64.b64decode(payload["publicKey"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise AuthError(f"bad federation request: {exc}") from None
        if ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA1())) != fp:  # noqa: S303
            raise AuthError("the keyId does not match the certificate's fingerprint")
        if tenancy != self.tenancy or f"opc-tenant:{tenancy}" not in _subject_values(leaf):
            raise AuthError("the certificate is not for this tenancy")
        chain = [leaf, *inters]
        try:
            for child, parent in itertools.pairwise(chain):
                child.verify_directly_issued_by(parent)
            chain[-1].verify_directly_issued_by(self.ca_cert)
        except Exception as exc:  # noqa: BLE001 - any failure is a refusal
            raise AuthError(f"the certificate chain does not verify: {exc}") from None
        instance = next(
            (
                v[len("opc-instance:") :]
                for v in _subject_values(leaf)
                if v.startswith("opc-instance:")
            ),
            leaf.subject.rfc4514_string(),
        )
        token = self.issue_token(session_key, instance, kind="instance")
        return leaf.public_key(), token


@dataclass
class InstanceIdentity:
    instance_id: str
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey
    intermediate: x509.Certificate

    def pem(self, what: str) -> bytes:
        if what == "cert.pem":
            return self.leaf.public_bytes(serialization.Encoding.PEM)
        if what == "intermediate.pem":
            return self.intermediate.public_bytes(serialization.Encoding.PEM)
        if what == "key.pem":
            return self.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        raise KeyError(what)


def _subject_values(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject]


def _certificate(
    cn: str,
    key: Any,
    issuer_key: Any,
    issuer: x509.Certificate | None,
    *,
    ca: bool,
    ou: str | None = None,
    extra_ou: str | None = None,
) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    for unit in (ou, extra_ou):
        if unit:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    subject = x509.Name(attrs)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


# -- request signatures --------------------------------------------------------------------

MAX_CLOCK_SKEW = 300


def parse_authorization(value: str) -> dict[str, str]:
    if not value.startswith("Signature "):
        raise AuthError("the Authorization header is not an OCI request signature")
    params: dict[str, str] = {}
    for part in _split_params(value[len("Signature ") :]):
        name, _, raw = part.partition("=")
        params[name.strip()] = raw.strip().strip('"')
    for required in ("keyId", "signature", "headers", "algorithm"):
        if required not in params:
            raise AuthError(f"the signature lacks {required}")
    if params["algorithm"] != "rsa-sha256":
        raise AuthError(f"unsupported signature algorithm {params['algorithm']}")
    if params.get("version", "1") != "1":
        raise AuthError(f"unsupported signature version {params['version']}")
    return params


def _split_params(text: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


def verify_signature(
    identity: Identity,
    method: str,
    target: str,
    headers: Any,
    body: bytes | None,
    *,
    require_body_headers: bool,
    require_host: bool = True,
    key_override: tuple[Any, Principal] | None = None,
) -> tuple[Principal, str]:
    """Check a request's OCI HTTP signature; return (principal, keyId) or raise AuthError.

    ``body``: the whole body when the caller read it (its sha256 and length are then
    checked against ``x-content-sha256`` and ``content-length``); None for streamed
    uploads, whose bodies OCI does not sign.
    """
    auth = headers.get("authorization")
    if not auth:
        raise AuthError("the request is not signed (no Authorization header)")
    params = parse_authorization(auth)
    signed = params["headers"].lower().split()
    needed = ["date", "(request-target)"] + (["host"] if require_host else [])
    if require_body_headers:
        needed += ["content-length", "content-type", "x-content-sha256"]
    missing = [h for h in needed if h not in signed]
    if missing:
        raise AuthError(f"the signature does not cover {', '.join(missing)}")
    lines = []
    for h in signed:
        if h == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
            continue
        value = headers.get(h)
        if value is None:
            raise AuthError(f"the signed header {h} is missing")
        lines.append(f"{h}: {value}")
    from email.utils import parsedate_to_datetime

    try:
        sent = parsedate_to_datetime(headers.get("date") or headers.get("x-date"))
    except (TypeError, ValueError):
        raise AuthError("the date header is not an HTTP date") from None
    if abs(time.time() - sent.timestamp()) > MAX_CLOCK_SKEW:
        raise AuthError("the date header is more than 5 minutes off")
    if body is not None and "x-content-sha256" in signed:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != digest:
            raise AuthError("x-content-sha256 does not match the body")
        if int(headers.get("content-length") or 0) != len(body):
            raise AuthError("content-length does not match the body")
    public_key, principal = key_override or identity.key_for(params["keyId"])
    try:
        signature = base64.b64decode(params["signature"])
        public_key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - InvalidSignature, binascii.Error
        raise AuthError("the signature does not verify") from None
    return principal, params["keyId"]


# -- what a user has on disk ---------------------------------------------------------------


@dataclass
class ApiKeyFiles:
    config: Path
    key: Path
    token: Path
    private_key: rsa.RSAPrivateKey
    key_id: str


def write_user_files(
    identity: Identity,
    folder: Path,
    private_key: rsa.RSAPrivateKey | None = None,
    *,
    region: str = REGION,
) -> ApiKeyFiles:
    """An OCI config file with a DEFAULT (api_key) and a SESSION (security_token) profile,
    its key file and a fresh session token, under ``folder``; the key is registered."""
    folder.mkdir(parents=True, exist_ok=True)
    key = private_key or new_key()
    key_path = folder / "oci_api_key.pem"
    key_path.write_bytes(pem_private(key))
    key_path.chmod(0o600)
    key_id = identity.add_api_key(key.public_key())
    token_path = folder / "token"
    token_path.write_text(identity.issue_token(key.public_key(), USER))
    fp = fingerprint(key.public_key())
    config = folder / "config"
    config.write_text(
        f"[DEFAULT]\nuser={USER}\nfingerprint={fp}\nkey_file={key_path}\ntenancy={identity.tenancy}\n"
        f"region={region}\n\n"
        f"[SESSION]\nfingerprint={fp}\nkey_file={key_path}\ntenancy={identity.tenancy}\n"
        f"region={region}\nsecurity_token_file={token_path}\n"
    )
    return ApiKeyFiles(config, key_path, token_path, key, key_id)
