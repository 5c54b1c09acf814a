"""A local OpenID Connect provider: the stand-in for Google in the tests and the demo.

    issuer = OidcIssuer(client_id="smsengine-test", client_secret="s3cret")
    async with serve_http(issuer.app, "127.0.0.1", 0) as server:       # any ASGI server
        issuer.base_url = f"http://127.0.0.1:{server.port}"
        ...

It speaks the parts of the protocol a relying party uses, as Google does:
    GET  /.well-known/openid-configuration   discovery (issuer, endpoints, algorithms)
    GET  /jwks                               its own RSA public key (a kid it can rotate: rotate_key())
    GET  /authorize                          signs in `login_hint` (or the default person) at once and
                                             redirects to redirect_uri with ?code=&state=
    POST /token                              client_secret_post; checks the code (once, 60 s), its
                                             redirect_uri and the PKCE S256 verifier; answers an ID token
ID tokens are RS256 JWTs (iss, aud, azp, sub, email, email_verified, name, nonce, iat, exp) signed with its
own key: the relying party must fetch and use the JWKS to verify them. People it knows are in `people`
(email -> (sub, name, email_verified)); an unknown hint becomes a new verified person.

This module must never be configured as a production issuer: it authenticates nobody.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    email: str
    nonce: str | None
    challenge: str | None
    expires: float


@dataclass
class OidcIssuer:
    client_id: str
    client_secret: str
    base_url: str = "http://127.0.0.1"
    default_email: str = "grace@example.com"
    people: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    _kid: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )

    def rotate_key(self) -> None:
        self._key = rsa.generate_private_key(65537, 2048)
        self._kid = uuid.uuid4().hex

    def person(self, email: str) -> tuple[str, str, bool]:
        if email not in self.people:
            self.people[email] = (str(100000000000 + len(self.people)), email.split("@")[0].title(), True)
        return self.people[email]

    def id_token(self, email: str, *, nonce: str | None, audience: str | None = None, **extra: Any) -> str:
        """An ID token as /token would issue it (tests forge variants with `extra`)."""
        sub, name, verified = self.person(email)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.base_url, "aud": audience or self.client_id, "azp": self.client_id, "sub": sub,
            "email": email, "email_verified": verified, "name": name, "iat": now, "exp": now + 3600,
        }  # fmt: skip
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    async def _discovery(self, request: Request) -> Response:
        base = self.base_url
        return JSONResponse({
            "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks", "response_types_supported": ["code"],
            "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        })  # fmt: skip

    async def _jwks(self, request: Request) -> Response:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": self._kid, "use": "sig", "alg": "RS256"}]})

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if (
            q.get("client_id") != self.client_id
            or q.get("response_type") != "code"
            or not q.get("redirect_uri")
        ):
            return JSONResponse({"error": "invalid_request"}, 400)
        if "openid" not in q.get("scope", "").split():
            return JSONResponse({"error": "invalid_scope"}, 400)
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(
            self.client_id, q["redirect_uri"], q.get("login_hint") or self.default_email, q.get("nonce"),
            q.get("code_challenge") if q.get("code_challenge_method") == "S256" else None, time.time() + 60,
        )  # fmt: skip
        answer = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode(answer), 302)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("latin-1")))  # application/x-www-form-urlencoded
        self.token_requests.append(form)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self._grants.pop(form.get("code", ""), None)  # a code works once
        if form.get("grant_type") != "authorization_code" or grant is None or grant.expires < time.time():
            return JSONResponse({"error": "invalid_grant"}, 400)
        if grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        if grant.challenge is not None:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "code_verifier"}, 400)
        return JSONResponse({
            "access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 3600,
            "scope": "openid email profile", "id_token": self.id_token(grant.email, nonce=grant.nonce),
        })  # fmt: skip
