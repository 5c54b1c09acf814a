"""The RSA key pair that signs our tokens (RS256), and its public half as a JWKS.

The private key is read from `auth.signing_key_path` when set, else from DATA_DIR/auth/jwt-signing-key.pem,
which is generated (RSA 2048) on the first start. Several processes may start at once on one data
directory: the new key is written to a temporary file and linked into place, so exactly one key wins and
every process reads that one. The key id (`kid`) is the RFC 7638 thumbprint of the public key, so a
verifier holding several keys (during a rotation) picks the right one.

This module must never write the private key anywhere but its file (mode 0600), or log it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_FILE = Path("auth") / "jwt-signing-key.pem"


class SigningKeyError(RuntimeError):
    """The configured key cannot be read or is not an RSA private key."""


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517), with its kid, use and alg."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 over the required members (e, kty, n) in lexicographic order, no whitespace."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _parse(pem: bytes, where: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise SigningKeyError(f"{where}: RS256 needs an RSA private key of at least 2048 bits")
    return SigningKey(key, thumbprint(key.public_key()))


def _generate_into(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temporary, path)  # fails if another process got there first: its key wins
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def load_signing_key(configured_path: str, data_dir: Path) -> SigningKey:
    """The configured key, or the data directory's one (made now if there is none)."""
    if configured_path:
        path = Path(configured_path)
        try:
            return _parse(path.read_bytes(), path)
        except OSError as exc:
            raise SigningKeyError(f"auth.signing_key_path: cannot read {path}: {exc}") from exc
    path = data_dir / DEFAULT_FILE
    if not path.exists():
        _generate_into(path)
    return _parse(path.read_bytes(), path)
