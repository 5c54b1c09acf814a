"""Our JWTs, RS256-signed: access tokens (15 min), refresh tokens (7 days) and sign-in states.

    access   {iss, aud, sub: user id, sid: session id, acc: account id, typ: "access", iat, exp, jti}
    refresh  {iss, aud, sub, sid, typ: "refresh", iat, exp, jti}        (jti is recorded: one use each)
    state    {iss, aud, typ: "oidc_state", nonce, iat, exp}             (the `state` of Google sign-in)

Each kind is refused where another is expected (`typ`), so a refresh token is no access token. Decoding
checks the signature, issuer, audience and expiry (PyJWT, with 30 s leeway for clocks between processes);
whether the session still holds is the caller's question (sessions.py).

The PKCE code verifier of a sign-in is derived from its state with a key derived from the signing key, so
it is never sent anywhere before the token request and needs no storage.

This module must never accept a token signed with another algorithm than RS256 (no `none`, no HS256 with
the public key as secret): the algorithm list passed to PyJWT is fixed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from engine.identity.errors import InvalidToken
from engine.identity.signing_keys import SigningKey

ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
STATE_SECONDS = 600


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    account_id: int
    expires_at: int


@dataclass(frozen=True)
class RefreshClaims:
    user_id: str
    session_id: str
    jti: str
    expires_at: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: what a Bearer JWT is (a `key:secret` pair always holds a colon)."""
    return token.count(".") == 2 and ":" not in token


class TokenIssuer:
    def __init__(self, key: SigningKey, *, issuer: str, access_seconds: int, refresh_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        der = key.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._pkce_key = hashlib.sha256(b"smsengine-pkce-v1" + der).digest()

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        headers = {"kid": self.key.kid, "typ": "at+jwt" if typ == "access" else "JWT"}
        return jwt.encode(
            {"iss": self.issuer, "aud": self.issuer, "typ": typ, **claims},
            self.key.private_key,
            algorithm=ALGORITHM,
            headers=headers,
        )

    def _decode(
        self, token: str, typ: str, required: list[str], *, expired_ok: bool = False
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key,
                algorithms=[ALGORITHM],
                audience=self.issuer,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", *required], "verify_exp": not expired_ok},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        if claims.get("typ") != typ:
            raise InvalidToken(f"not an {typ} token" if typ[0] in "aeiou" else f"not a {typ} token")
        return claims

    def access(self, user_id: str, session_id: str, account_id: int) -> IssuedToken:
        now = int(time.time())
        jti = str(uuid.uuid4())
        exp = now + self.access_seconds
        claims = {"sub": user_id, "sid": session_id, "acc": account_id, "iat": now, "exp": exp, "jti": jti}
        return IssuedToken(self._sign(claims, "access"), jti, exp)

    def refresh(self, user_id: str, session_id: str) -> IssuedToken:
        now = int(time.time())
        jti = str(uuid.uuid4())
        exp = now + self.refresh_seconds
        claims = {"sub": user_id, "sid": session_id, "iat": now, "exp": exp, "jti": jti}
        return IssuedToken(self._sign(claims, "refresh"), jti, exp)

    def decode_access(self, token: str) -> AccessClaims:
        c = self._decode(token, "access", ["sub", "sid", "acc"])
        if not isinstance(c["acc"], int) or not isinstance(c["sid"], str) or not isinstance(c["sub"], str):
            raise InvalidToken("the token is not valid")
        return AccessClaims(c["sub"], c["sid"], c["acc"], int(c["exp"]))

    def decode_refresh(self, token: str, *, expired_ok: bool = False) -> RefreshClaims:
        """The claims of a refresh token we signed; `expired_ok` for logging out with an old one."""
        c = self._decode(token, "refresh", ["sub", "sid", "jti"], expired_ok=expired_ok)
        if not all(isinstance(c[k], str) for k in ("sub", "sid", "jti")):
            raise InvalidToken("the token is not valid")
        return RefreshClaims(c["sub"], c["sid"], c["jti"], int(c["exp"]))

    # --- the `state` of an OpenID Connect sign-in

    def sign_in_state(self) -> tuple[str, str]:
        """(state, nonce) for a new sign-in; both come back with the provider's answer."""
        now = int(time.time())
        nonce = secrets.token_urlsafe(24)
        state = self._sign({"nonce": nonce, "iat": now, "exp": now + STATE_SECONDS}, "oidc_state")
        return state, nonce

    def check_state(self, state: str) -> str:
        """The nonce of a state we issued (and that has not expired)."""
        nonce = self._decode(state, "oidc_state", ["nonce"])["nonce"]
        if not isinstance(nonce, str):
            raise InvalidToken("the sign-in state is not valid")
        return nonce

    def code_verifier(self, state: str) -> str:
        """RFC 7636 code verifier of the sign-in with this state (43 base64url characters)."""
        digest = hmac.new(self._pkce_key, state.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code_challenge(verifier: str) -> str:
    """S256 challenge of a verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
