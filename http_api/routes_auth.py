"""The BulkSMSRates document's authentication rows, over engine/identity/ (`Identity`):

    POST /v1/auth/register          public   201  account + owner + tokens; a verification mail
    POST /v1/auth/login             public   200  tokens; 401 UNAUTHORIZED, 401/429 ACCOUNT_LOCKED
    POST /v1/auth/refresh           public   200  rotated: the old refresh token stops working
    GET  /v1/auth/me                user     200  the signed-in user (an API key: 403)
    POST /v1/auth/logout            public   200  revokes the session of the refresh token (or of the
                                                  Bearer access token when no body is sent)
    GET  /v1/auth/google/url        public   200  the provider's authorization URL and its state
    POST /v1/auth/google            public   200  code + state -> tokens (the account opened if new)
    POST /v1/auth/forgot-password   public   202  a reset link by mail, if the address has a user
    POST /v1/auth/reset-password    public   200  token + new password; every session ends
    POST /v1/auth/change-password   user     200  current + new password; other sessions end
    GET  /v1/auth/verify-email      public   200  the link of the verification mail (?token=)
    POST /v1/auth/verify-email      public   200  the same, for a page that posts the token
    GET  /.well-known/jwks.json     public   200  the public key that verifies our tokens (RFC 7517)

Answers are `{"data": {...}}` like the document's other objects. Token answers carry access_token,
refresh_token, token_type "Bearer", expires_in (seconds) and refresh_expires_in. Refusals are
engine.identity errors, shaped by http_api.errors.identity_error. None of these answers is stored under
an Idempotency-Key: a replayed token answer would hand out a refresh token already rotated.

This module must never put a password, a hash or a mailed token in an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

from engine.identity.errors import NotAUser
from engine.identity.service import Identity, SignedIn
from engine.identity.sessions import TokenPair
from engine.identity.users import User
from http_api.auth import ROLE_PERMISSIONS
from http_api.errors import ApiError, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request, one_of_fields

# No U+0000 (PostgreSQL text cannot hold it: a lookup with one would fail, not answer).
Email = Annotated[
    str,
    Meta(
        min_length=3, max_length=254, pattern=r"^[^\x00]*$", description="e-mail address", examples=["a@b.co"]
    ),
]
# An address being registered, as engine.identity.users.normalize_email accepts it; Python's \s spelt
# out, so that the schema's regular expression means the same to every reader of it.
_NOT_AT_OR_SPACE = r"[^@\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NewEmail = Annotated[
    str,
    Meta(
        min_length=3, max_length=254, description="e-mail address", examples=["a@b.co"],
        pattern=rf"^{_NOT_AT_OR_SPACE}]{{1,64}}@{_NOT_AT_OR_SPACE}.]+(\.{_NOT_AT_OR_SPACE}.]+)+$",
    ),
]  # fmt: skip
Password = Annotated[str, Meta(min_length=1, max_length=1024, description="8 to 128 characters")]
# A password being set: the policy's length stated in the schema (seed 001 / schemathesis: a request the
# schema allows is never refused for its shape); "too easy to guess" stays the handler's (422).
NewPassword = Annotated[str, Meta(min_length=8, max_length=128, description="8 to 128 characters")]
Token = Annotated[str, Meta(min_length=1, max_length=4096)]


class RegisterRequest(Request, frozen=True):
    email: NewEmail
    password: NewPassword
    name: Annotated[str, Meta(max_length=200)] = ""
    company: Annotated[str, Meta(max_length=200)] = ""  # the account's name (default: the person's)
    currency: Annotated[str, Meta(pattern="^[A-Z]{3}$")] | None = None  # default auth.signup_currency


class LoginRequest(Request, frozen=True):
    email: Email
    password: Password


class RefreshRequest(Request, frozen=True):
    refresh_token: Token


class LogoutRequest(Request, frozen=True):
    refresh_token: Token | None = None


class GoogleRequest(Request, frozen=True):
    code: Token
    state: Token  # as GET /v1/auth/google/url gave it


class ForgotPasswordRequest(Request, frozen=True):
    email: Email


class ResetPasswordRequest(Request, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = one_of_fields(
        ("password", {"type": "string"}), ("new_password", {"type": "string"})
    )

    token: Token
    password: NewPassword | None = None
    new_password: NewPassword | None = None  # either name is accepted


class ChangePasswordRequest(Request, frozen=True):
    current_password: Password
    new_password: NewPassword


class VerifyEmailRequest(Request, frozen=True):
    token: Token


class VerifyEmailQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: Token


class AccountInfo(msgspec.Struct, frozen=True):
    id: int
    name: str
    currency: str


class UserInfo(msgspec.Struct, frozen=True):
    id: str
    email: str
    name: str
    role: str  # owner | admin | member
    email_verified: bool
    account: AccountInfo
    permissions: list[str]
    sign_in_methods: list[str]  # password, google
    created_at: datetime


class Tokens(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    refresh_expires_in: int


class SignedInInfo(Tokens, frozen=True):
    user: UserInfo
    created: bool  # this sign-in opened the account


class TokensAnswer(msgspec.Struct, frozen=True):
    data: Tokens


class SignedInAnswer(msgspec.Struct, frozen=True):
    data: SignedInInfo


class UserAnswer(msgspec.Struct, frozen=True):
    data: UserInfo


class GoogleUrl(msgspec.Struct, frozen=True):
    url: str
    state: str


class GoogleUrlAnswer(msgspec.Struct, frozen=True):
    data: GoogleUrl


class Done(msgspec.Struct, frozen=True):
    status: str  # logged_out | reset_mail_sent | password_reset | password_changed | email_verified
    message: str


class DoneAnswer(msgspec.Struct, frozen=True):
    data: Done


class Jwk(msgspec.Struct, frozen=True):
    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str


class Jwks(msgspec.Struct, frozen=True):
    keys: list[Jwk]


def _identity(call: Call) -> Identity:
    identity = call.ctx.engine.identity
    assert identity is not None
    return identity


def user_info(user: User) -> UserInfo:
    methods = [m for m, has in (("password", user.has_password), ("google", user.has_google)) if has]
    return UserInfo(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        email_verified=user.email_verified,
        account=AccountInfo(user.account_id, user.account_name, user.account_currency),
        permissions=sorted(ROLE_PERMISSIONS.get(user.role, frozenset())),
        sign_in_methods=methods,
        created_at=user.created_at,
    )


def _tokens(identity: Identity, pair: TokenPair) -> Tokens:
    return Tokens(
        pair.access.token,
        pair.refresh.token,
        "Bearer",
        identity.tokens.access_seconds,
        identity.tokens.refresh_seconds,
    )


def _signed_in(identity: Identity, signed_in: SignedIn) -> SignedInAnswer:
    fields = msgspec.structs.asdict(_tokens(identity, signed_in.tokens))
    return SignedInAnswer(SignedInInfo(**fields, user=user_info(signed_in.user), created=signed_in.created))


def _done(status: str, message: str, code: int = 200) -> Reply:
    return Reply(code, DoneAnswer(Done(status, message)))


def _signed_in_user(call: Call) -> tuple[str, str]:
    """(user id, session id) of the caller; API keys have no user."""
    user = call.principal.user
    if user is None:
        raise NotAUser(
            "this endpoint is about a signed-in user: call it with the Bearer access token of a login"
        )
    return user.user_id, user.session_id


def _email_or_400(email: str) -> str:
    if "@" not in email:
        raise validation_error("not an e-mail address", field="email")
    return email


async def register(call: Call) -> Reply:
    body = call.body_as(RegisterRequest)
    identity = _identity(call)
    try:
        signed_in = await identity.register(
            _email_or_400(body.email), body.password, body.name.strip(), body.company.strip(), body.currency
        )
    except ValueError as exc:
        raise validation_error(str(exc), field="email") from exc
    return Reply(201, _signed_in(identity, signed_in))


async def login(call: Call) -> Reply:
    body = call.body_as(LoginRequest)
    identity = _identity(call)
    return Reply(200, _signed_in(identity, await identity.login(body.email, body.password)))


async def refresh(call: Call) -> Reply:
    identity = _identity(call)
    pair = await identity.refresh(call.body_as(RefreshRequest).refresh_token)
    return Reply(200, TokensAnswer(_tokens(identity, pair)))


async def me(call: Call) -> Reply:
    user_id, _ = _signed_in_user(call)
    return Reply(200, UserAnswer(user_info(await _identity(call).user(user_id))))


async def logout(call: Call) -> Reply:
    identity = _identity(call)
    body = call.body if isinstance(call.body, LogoutRequest) else LogoutRequest()
    if body.refresh_token is not None:
        await identity.logout(refresh_token=body.refresh_token)
    else:  # no refresh token: the session of the Bearer access token (which must be good) ends
        principal = await call.ctx.auth.authenticate(call.request)
        if (
            principal.user is None
        ):  # an API key has no session: as /v1/auth/me, a credential of the wrong kind
            raise ApiError(
                403, "FORBIDDEN", "send the refresh_token to revoke, or a user's Bearer access token"
            )
        await identity.logout(session_id=principal.user.session_id)
    return _done("logged_out", "the session is revoked: its refresh and access tokens no longer work")


async def google_url(call: Call) -> Reply:
    url, state = await _identity(call).google_url()
    return Reply(200, GoogleUrlAnswer(GoogleUrl(url, state)))


async def google(call: Call) -> Reply:
    body = call.body_as(GoogleRequest)
    identity = _identity(call)
    return Reply(200, _signed_in(identity, await identity.google_sign_in(body.code, body.state)))


async def forgot_password(call: Call) -> Reply:
    await _identity(call).forgot_password(call.body_as(ForgotPasswordRequest).email)
    message = "if the address belongs to a user, a reset link is on its way"
    return _done("reset_mail_sent", message, 202)


async def reset_password(call: Call) -> Reply:
    body = call.body_as(ResetPasswordRequest)
    password = body.password if body.password is not None else body.new_password
    if password is None:
        raise validation_error("the new password is required", field="password")
    await _identity(call).reset_password(body.token, password)
    return _done("password_reset", "the password is changed: sign in with it (every session has ended)")


async def change_password(call: Call) -> Reply:
    body = call.body_as(ChangePasswordRequest)
    user_id, session_id = _signed_in_user(call)
    await _identity(call).change_password(user_id, session_id, body.current_password, body.new_password)
    return _done("password_changed", "the password is changed; other sessions have ended")


async def _verified(call: Call, token: str) -> Reply:
    user = await _identity(call).verify_email(token)
    return _done("email_verified", f"{user.email} is verified")


async def verify_email_link(call: Call) -> Reply:
    return await _verified(call, call.query_as(VerifyEmailQuery).token)


async def verify_email(call: Call) -> Reply:
    return await _verified(call, call.body_as(VerifyEmailRequest).token)


async def jwks(call: Call) -> Reply:
    document: dict[str, Any] = _identity(call).signing_key.jwks()
    return Reply(200, msgspec.convert(document, Jwks), {"Cache-Control": "public, max-age=300"})


_TOKENS_DOC = (
    "Answers access_token (a Bearer JWT, RS256, valid expires_in seconds: 15 minutes), refresh_token "
    "(7 days, rotated on every use) and the user."
)

OPERATIONS = [
    Operation("POST", "/v1/auth/register", register, "Create account + get tokens", None, "Auth",
              body=RegisterRequest, responses={201: SignedInAnswer}, public=True,
              description=_TOKENS_DOC + " A verification link is mailed to the address; 409 CONFLICT when "
              "the address has a user already."),
    Operation("POST", "/v1/auth/login", login, "Email + password login", None, "Auth",
              body=LoginRequest, responses={200: SignedInAnswer}, public=True,
              description=_TOKENS_DOC + " 5 failed logins in a row lock sign-in for 15 minutes: the failure "
              "that locks answers 401 ACCOUNT_LOCKED, attempts while locked 429 ACCOUNT_LOCKED with "
              "Retry-After."),
    Operation("POST", "/v1/auth/refresh", refresh, "Rotate refresh → new access token", None, "Auth",
              body=RefreshRequest, responses={200: TokensAnswer}, public=True,
              description="The refresh token is used up: the answer carries its successor. Presenting a "
              "used one again revokes the whole session (401)."),
    Operation("GET", "/v1/auth/me", me, "Get current user profile", None, "Auth",
              responses={200: UserAnswer},
              description="Needs a user's Bearer access token (an API key has no user: 403)."),
    Operation("POST", "/v1/auth/logout", logout, "Revoke refresh token (blacklist)", None, "Auth",
              body=LogoutRequest, body_required=False, responses={200: DoneAnswer}, public=True,
              description="Revokes the session of the refresh_token sent, or, with no body, of the Bearer "
              "access token: every token of that sign-in stops working on every engine process."),
    Operation("GET", "/v1/auth/google/url", google_url, "Get Google OAuth redirect URL", None, "Auth",
              responses={200: GoogleUrlAnswer}, public=True,
              description="Send the browser to url; the provider returns it to the configured redirect URI "
              "with code and state, to POST to /v1/auth/google. 503 when Google sign-in is not configured."),
    Operation("POST", "/v1/auth/google", google, "Exchange Google code for tokens", None, "Auth",
              body=GoogleRequest, responses={200: SignedInAnswer}, public=True,
              description=_TOKENS_DOC + " A first sign-in opens an account (created: true); an address "
              "with a user already is linked to it."),
    Operation("POST", "/v1/auth/forgot-password", forgot_password, "Send password reset email", None, "Auth",
              body=ForgotPasswordRequest, responses={202: DoneAnswer}, public=True,
              description="Always 202, whether or not the address has a user. The link works once, for 60 "
              "minutes."),
    Operation("POST", "/v1/auth/reset-password", reset_password, "Reset password with token", None, "Auth",
              body=ResetPasswordRequest, responses={200: DoneAnswer}, public=True,
              description="token from the mailed link, and the new password (password or new_password). "
              "Every session of the user ends; a sign-in lock clears."),
    Operation("POST", "/v1/auth/change-password", change_password, "Change password (authenticated)", None,
              "Auth", body=ChangePasswordRequest, responses={200: DoneAnswer},
              description="Needs a user's Bearer access token. A wrong current_password counts as a failed "
              "login (401; the fifth locks)."),
    Operation("GET", "/v1/auth/verify-email", verify_email_link, "Verify an e-mail address (mailed link)",
              None, "Auth", query=VerifyEmailQuery, responses={200: DoneAnswer}, public=True),
    Operation("POST", "/v1/auth/verify-email", verify_email, "Verify an e-mail address", None, "Auth",
              body=VerifyEmailRequest, responses={200: DoneAnswer}, public=True),
    Operation("GET", "/.well-known/jwks.json", jwks, "Public keys verifying our tokens (JWKS)", None, "Auth",
              responses={200: Jwks}, public=True),
]  # fmt: skip
