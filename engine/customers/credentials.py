"""SMPP credentials: password hashing and the checks made when a customer binds.

Passwords are hashed with scrypt (slow on purpose: an SMPP bind is rare and a leaked table must not give
the passwords away) and compared in constant time. The bind decision itself is pure: the engine loads
the credential row and the live bind count and asks `check_bind`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass

from smpp.constants import CommandStatus

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
    )
    return hmac.compare_digest(candidate.hex(), digest)


@dataclass(frozen=True)
class SmppCredential:
    account_id: int
    system_id: str
    password_hash: str
    allowed_ips: tuple[str, ...] = ()  # CIDR blocks; empty: any address
    max_binds: int = 4
    throughput: int = 100  # submit_sm per second per bind
    enabled: bool = True


def ip_allowed(ip: str, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(block, strict=False) for block in allowed)


def check_bind(
    credential: SmppCredential | None, password: str, peer_ip: str, live_binds: int
) -> tuple[int, str]:
    """(command_status, reason) for a bind attempt; ESME_ROK when it may proceed."""
    if credential is None or not credential.enabled:
        return CommandStatus.ESME_RINVSYSID, "unknown or disabled system_id"
    if not verify_password(password, credential.password_hash):
        return CommandStatus.ESME_RINVPASWD, "wrong password"
    if not ip_allowed(peer_ip, credential.allowed_ips):
        return CommandStatus.ESME_RBINDFAIL, f"source address {peer_ip} not allowed"
    if live_binds >= credential.max_binds:
        return CommandStatus.ESME_RBINDFAIL, f"already {live_binds} binds (maximum {credential.max_binds})"
    return CommandStatus.ESME_ROK, "ok"
