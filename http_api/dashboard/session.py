"""The dashboard's session cookie: signed (itsdangerous, HMAC-SHA256), HttpOnly, SameSite=Strict.

The cookie holds the operator's id and name and when it was signed; `read` accepts it only unaltered and
younger than the session length. Nothing secret is in it, and nothing is stored server-side: logging
out clears it, and disabling an operator ends its sessions at their next request (routes.py checks).
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from http_api.dashboard.operators import Operator

COOKIE = "smsengine_operator"


class Sessions:
    def __init__(self, secret: str, *, hours: float, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret or secrets.token_hex(32), salt="dashboard-session")
        self.max_age = int(hours * 3600)
        self.secure = secure

    def issue(self, operator: Operator) -> str:
        return self._serializer.dumps({"id": operator.id, "name": operator.name})

    def read(self, cookie: str | None) -> Operator | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, SignatureExpired):
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("id"), int)
            or not isinstance(data.get("name"), str)
        ):
            return None
        return Operator(data["id"], data["name"])

    def cookie_options(self) -> dict[str, object]:
        return {"max_age": self.max_age, "httponly": True, "samesite": "strict", "secure": self.secure,
                "path": "/dashboard"}  # fmt: skip
