"""What can go wrong when someone signs in, as a tree; a surface (http_api/routes_auth.py) maps each to
its status and code:

    IdentityError
    ├── InvalidCredentials     wrong email or password, or an unknown user (never said which)
    ├── AccountLocked          too many failed logins: `just_locked` on the failure that locked it
    ├── InvalidToken           a refresh, reset or verification token that is malformed, expired, used
    │                          or revoked (a reused refresh token also revoked its whole family)
    ├── EmailTaken             registration with an address that already has a user
    ├── WeakPassword           a new password below the policy
    ├── SignupClosed           auth.signup_enabled is false
    ├── NotAUser               the caller is an API key, and the operation is about a person
    └── ProviderError          the OpenID Connect provider is not configured, unreachable, or refused
"""

from __future__ import annotations

from datetime import datetime


class IdentityError(Exception):
    """Base of every refusal; the message is safe to show the caller."""


class InvalidCredentials(IdentityError):
    pass


class AccountLocked(IdentityError):
    def __init__(self, locked_until: datetime, retry_after: int, *, just_locked: bool) -> None:
        super().__init__(
            "sign-in is locked after repeated failed logins; try again later or reset the password"
        )
        self.locked_until = locked_until
        self.retry_after = retry_after
        self.just_locked = just_locked


class InvalidToken(IdentityError):
    pass


class EmailTaken(IdentityError):
    pass


class WeakPassword(IdentityError):
    pass


class SignupClosed(IdentityError):
    pass


class NotAUser(IdentityError):
    pass


class ProviderError(IdentityError):
    def __init__(self, message: str, *, configured: bool = True) -> None:
        super().__init__(message)
        self.configured = configured
