"""Secrets at rest: OAuth tokens and customers' app secrets sealed with AES-256-GCM under a key ring.

    ring = KeyRing.parse("k2:BASE64URL_32_BYTES,k1:BASE64URL_32_BYTES")   # first key seals; all unseal
    sealed = ring.seal(b"secret", context="social_accounts:42:x:1234")
    ring.unseal(sealed, context="social_accounts:42:x:1234") == b"secret"
    sealed.key_id                                                        # "k2": stored beside the blob

A sealed value is `key_id` plus `nonce (12 bytes) || ciphertext+tag`; the key id travels with every
ciphertext (the table keeps it in its own column), so keys rotate without a flag day: put a new key first
in the ring, keep the old ones after it until `smsengine`'s re-seal (or the rows' own updates) has moved
every row to the new id, then drop them. `context` is bound as associated data: a ciphertext copied into
another row (another account, another platform) fails to open instead of handing over its secret.

The ring comes from settings (`social.encryption_keys`, or `social.encryption_key_file` holding the same
text); `load_key_ring` creates a fresh key file under the data directory when neither is set, so a demo
or a first start works and keeps working across restarts.
This module must never log or return key material, and never seal with any key but the first.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_NONCE_BYTES = 12
DEFAULT_KEY_FILE = "social-keys.txt"


class SealingError(ValueError):
    """A key ring that cannot be used (bad text, unknown key id), or a ciphertext that does not open."""


class Sealed(msgspec.Struct, frozen=True):
    """A sealed secret: the id of the key that sealed it, and nonce || ciphertext || tag."""

    key_id: str
    blob: bytes


class KeyRing:
    """AES-256-GCM keys by id; the first one seals, any of them unseals."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise SealingError("a key ring needs at least one key")
        seen: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.match(key_id):
                raise SealingError(f"invalid key id {key_id!r}: 1-32 of A-Z a-z 0-9 _ . -")
            if len(key) != 32:
                raise SealingError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
            if key_id in seen:
                raise SealingError(f"key id {key_id!r} appears twice")
            seen[key_id] = AESGCM(key)
        self._keys = seen
        self.current_id = keys[0][0]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """ "id:base64,id:base64" (commas or newlines between entries; # starts a comment)."""
        entries: list[tuple[str, bytes]] = []
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        for raw in (part for line in lines for part in line.split(",")):
            entry = raw.strip()
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise SealingError("each key is written id:base64 (32 bytes, urlsafe base64)")
            try:
                key = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
            except ValueError as exc:
                raise SealingError(f"key {key_id.strip()!r} is not valid base64") from exc
            entries.append((key_id.strip(), key))
        return cls(entries)

    @staticmethod
    def new_entry(key_id: str) -> str:
        """A fresh random key written as one ring entry."""
        return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, plaintext: bytes, *, context: str) -> Sealed:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._keys[self.current_id].encrypt(nonce, plaintext, context.encode())
        return Sealed(self.current_id, nonce + ciphertext)

    def unseal(self, sealed: Sealed, *, context: str) -> bytes:
        aead = self._keys.get(sealed.key_id)
        if aead is None:
            raise SealingError(f"no key {sealed.key_id!r} in the ring (was it removed too early?)")
        nonce, ciphertext = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, ciphertext, context.encode())
        except InvalidTag as exc:
            raise SealingError("ciphertext does not open under its key and context") from exc

    def needs_reseal(self, sealed: Sealed) -> bool:
        return sealed.key_id != self.current_id


def load_key_ring(keys: str, key_file: str, data_dir: Path) -> KeyRing:
    """The ring the settings describe: `keys` text, else `key_file`, else data_dir/social-keys.txt
    (created with one fresh key, mode 0600, when it does not exist yet)."""
    if keys.strip():
        return KeyRing.parse(keys)
    path = Path(key_file) if key_file else data_dir / DEFAULT_KEY_FILE
    if not path.exists():
        if key_file:
            raise SealingError(f"social.encryption_key_file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# smsengine social secrets key ring: the first key seals, every key unseals.\n")
            out.write(KeyRing.new_entry("k1") + "\n")
    return KeyRing.parse(path.read_text())
