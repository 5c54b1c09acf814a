"""Sign-in with Google, as an OpenID Connect relying party of whichever issuer `[oidc]` names.

Google is simply the default issuer (https://accounts.google.com); the tests run this very code against a
local issuer (engine/simulation/oidc_issuer.py). The flow is the authorization-code flow with PKCE:

    authorization_url(state, nonce, challenge)   -> the provider's authorization_endpoint (discovery)
    exchange(code, verifier, nonce)              -> POST token_endpoint, then the ID token is verified:
        signature by a key of the provider's JWKS (refetched once when a kid is unknown: key rotation),
        alg among RS256/ES256/PS256 (never none or HS*), iss, aud = our client id (azp when several),
        exp/iat, and the nonce of our state.

Discovery and JWKS documents are cached for an hour. The discovered `issuer` must equal the configured
one (OIDC Discovery 4.3). Google also writes `iss` without its scheme: both spellings are accepted.

This module must never trust an ID token it did not verify, nor send the client secret anywhere but the
discovered token endpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from engine.identity.errors import InvalidToken, ProviderError
from engine.infra.settings import OidcSettings

CACHE_SECONDS = 3600.0
ALGORITHMS = ["RS256", "ES256", "PS256"]


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says signed in."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str


class OidcClient:
    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self._http = http
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, dict[str, Any]] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.client_id)

    def _require_configured(self) -> None:
        if not self.configured:
            raise ProviderError("Google sign-in is not configured on this server", configured=False)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=self.settings.timeout_seconds)
        except httpx.HTTPError as exc:
            raise ProviderError(f"the sign-in provider cannot be reached: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderError(f"the sign-in provider answered {response.status_code} for {url}")
        try:
            document = response.json()
        except ValueError as exc:
            raise ProviderError("the sign-in provider answered something other than JSON") from exc
        if not isinstance(document, dict):
            raise ProviderError("the sign-in provider answered an unexpected document")
        return document

    async def discovery(self) -> dict[str, Any]:
        cached = self._discovery
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        issuer = self.settings.issuer.rstrip("/")
        document = await self._get_json(issuer + "/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            raise ProviderError("the provider's discovery document names another issuer")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise ProviderError(f"the provider's discovery document has no {field}")
        self._discovery = (time.monotonic() + CACHE_SECONDS, document)
        return document

    async def _keys(self, *, refresh: bool = False) -> dict[str, Any]:
        cached = self._jwks
        if cached is not None and cached[0] > time.monotonic() and not refresh:
            return cached[1]
        document = await self._get_json((await self.discovery())["jwks_uri"])
        if not isinstance(document.get("keys"), list):
            raise ProviderError("the provider's JWKS has no keys")
        self._jwks = (time.monotonic() + CACHE_SECONDS, document)
        return document

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        for refresh in (False, True):  # an unknown kid: the provider may have rotated its keys
            keys = [k for k in (await self._keys(refresh=refresh))["keys"] if isinstance(k, dict)]
            matching = [k for k in keys if kid is None or k.get("kid") == kid]
            if matching:
                try:
                    return jwt.PyJWK(matching[0])
                except jwt.PyJWTError as exc:
                    raise ProviderError("the provider's signing key cannot be used") from exc
        raise InvalidToken("the ID token is signed by a key the provider does not publish")

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        self._require_configured()
        endpoint = str((await self.discovery())["authorization_endpoint"])
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "scope": self.settings.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)

    async def exchange(self, code: str, verifier: str, nonce: str) -> ProviderIdentity:
        self._require_configured()
        endpoint = (await self.discovery())["token_endpoint"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "code_verifier": verifier,
        }
        try:
            response = await self._http.post(endpoint, data=form, timeout=self.settings.timeout_seconds)
        except httpx.HTTPError as exc:
            raise ProviderError(f"the sign-in provider cannot be reached: {type(exc).__name__}") from exc
        if response.status_code in (400, 401):
            raise InvalidToken("the sign-in provider refused the code (expired, used or not ours)")
        if response.status_code != 200:
            raise ProviderError(f"the sign-in provider's token endpoint answered {response.status_code}")
        try:
            id_token = response.json().get("id_token")
        except (ValueError, AttributeError) as exc:
            raise ProviderError("the token endpoint answered something other than a token") from exc
        if not isinstance(id_token, str):
            raise ProviderError("the token endpoint answered no ID token")
        return await self.verify_id_token(id_token, nonce)

    async def verify_id_token(self, id_token: str, nonce: str) -> ProviderIdentity:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("the ID token is malformed") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("the ID token is not signed with an accepted algorithm")
        key = await self._key_for(header.get("kid"))
        issuer = (await self.discovery())["issuer"]
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=ALGORITHMS,
                audience=self.settings.client_id,
                issuer=[issuer, issuer.removeprefix("https://")],
                leeway=60,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the ID token does not verify: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise InvalidToken("the ID token belongs to another sign-in (nonce)")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise InvalidToken("the ID token was issued to another client (azp)")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise InvalidToken("the provider shared no e-mail address (scope email)")
        verified = claims.get("email_verified") in (True, "true")
        return ProviderIdentity(issuer, str(claims["sub"]), email, verified, str(claims.get("name") or ""))
