"""The engine's one settings object: read from config.toml, overridden by SMSENGINE_* variables.

Every field is documented where it is declared; config.toml at the repository root repeats each one with
its default. A setting `section.field` is overridden by the environment variable
`SMSENGINE_SECTION_FIELD` (for example `database.url` by `SMSENGINE_DATABASE_URL`); top-level fields by
`SMSENGINE_FIELD`. Invalid values stop the start with a `SettingsError` that names the setting.

This module must never open a connection or start anything: it only reads and validates.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

ENV_PREFIX = "SMSENGINE_"


class SettingsError(ValueError):
    """A setting is missing, unknown or invalid; the message names it."""


class DatabaseSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str = ""
    """PostgreSQL URL (postgresql://user@host:port/db). Empty: start an embedded PostgreSQL in data_dir."""
    pool_min: int = 2
    """Connections opened at start."""
    pool_max: int = 10
    """Upper bound of the connection pool."""

    def __post_init__(self) -> None:
        _require(self.pool_min >= 1, "database.pool_min", "must be at least 1")
        _require(self.pool_max >= self.pool_min, "database.pool_max", "must be >= database.pool_min")


class RedisSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str = ""
    """Redis URL (redis://host:port/db). Empty: start an embedded Redis-compatible server in data_dir."""
    prefix: str = "smsengine:"
    """Prefix of every key the engine writes, so several deployments (or test runs) can share a server."""


class SmppServerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    """Address the customer-facing SMPP server listens on."""
    port: int = 2775
    """TCP port of the customer-facing SMPP server (0: pick a free port)."""
    window: int = 100
    """Requests the server keeps outstanding towards one customer bind (deliver_sm)."""
    enquire_link_interval: float = 30.0
    """Seconds of silence after which an enquire_link is sent on a bind."""
    inactivity_timeout: float = 120.0
    """Seconds without any PDU from the peer after which the session is closed."""
    response_timeout: float = 30.0
    """Seconds to wait for the response to a request we sent before treating it as failed."""
    throttle_hold: float = 1.0
    """A customer bind over its throughput gets its answers up to this many seconds later (paced)
    before being answered ESME_RTHROTTLED: a windowed client then slows to its rate with no error."""
    tls_cert: str = ""
    """PEM certificate file; with tls_key set the server speaks TLS only."""
    tls_key: str = ""
    """PEM private key for tls_cert."""

    def __post_init__(self) -> None:
        _require(0 <= self.port <= 65535, "smpp.port", "must be between 0 and 65535")
        _require(self.window >= 1, "smpp.window", "must be at least 1")
        _require(self.enquire_link_interval > 0, "smpp.enquire_link_interval", "must be positive")
        _require(self.inactivity_timeout > 0, "smpp.inactivity_timeout", "must be positive")
        _require(self.response_timeout > 0, "smpp.response_timeout", "must be positive")
        _require(0 <= self.throttle_hold <= 30, "smpp.throttle_hold", "must be between 0 and 30 seconds")
        _require(
            bool(self.tls_cert) == bool(self.tls_key), "smpp.tls_key", "tls_cert and tls_key go together"
        )


class HttpSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    """Address the HTTP API listens on."""
    port: int = 8080
    """TCP port of the HTTP API (0: pick a free port)."""
    rate_limit: float = 100.0
    """Requests per second each API key may make (token bucket refill), unless the key sets its own."""
    rate_burst: int = 200
    """Requests an idle API key may make at once (token bucket size), unless the key sets its own."""
    max_body_bytes: int = 8_388_608
    """Largest request body accepted (bytes); beyond it the answer is 413. A full bulk request fits."""

    def __post_init__(self) -> None:
        _require(0 <= self.port <= 65535, "http.port", "must be between 0 and 65535")
        _require(self.rate_limit > 0, "http.rate_limit", "must be positive")
        _require(self.rate_burst >= 1, "http.rate_burst", "must be at least 1")
        _require(self.max_body_bytes >= 1024, "http.max_body_bytes", "must be at least 1024")


class AuthSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Users, their tokens and the API-key cache (engine/identity/, http_api/auth.py)."""

    issuer: str = "smsengine"
    """The `iss` of every token we sign, and the audience they are checked against."""
    signing_key_path: str = ""
    """PEM file of the RSA private key that signs tokens (RS256). Empty: DATA_DIR/auth/jwt-signing-key.pem,
    generated on first start. Engine processes that share no data directory must share this file."""
    access_token_minutes: int = 15
    """Lifetime of an access token (the Bearer JWT every endpoint accepts)."""
    refresh_token_days: int = 7
    """Lifetime of a refresh token; each use rotates it (a new one, valid as long again)."""
    lockout_failures: int = 5
    """Failed logins in a row that lock a user's sign-in (ACCOUNT_LOCKED)."""
    lockout_minutes: int = 15
    """How long such a lock holds; a successful login (or a password reset) clears the count."""
    reset_token_minutes: int = 60
    """How long a password-reset link works (once)."""
    verify_token_hours: int = 48
    """How long an e-mail verification link works (once)."""
    reset_url: str = "http://127.0.0.1:8080/reset-password?token={token}"
    """The link mailed for a password reset: the page that asks for the new password and POSTs it with
    the token to /v1/auth/reset-password. `{token}` is replaced by the token."""
    verify_url: str = "http://127.0.0.1:8080/v1/auth/verify-email?token={token}"
    """The link mailed to verify an address (by default this API's own GET /v1/auth/verify-email)."""
    signup_enabled: bool = True
    """Whether POST /v1/auth/register (and a first Google sign-in) may open new accounts."""
    signup_currency: str = "GBP"
    """Currency of an account opened by registration when the request names none."""
    key_cache_seconds: float = 300.0
    """How long a verified API key + secret is reused from memory before Argon2id checks it again.
    Revocations and permission changes reach every engine process within revocation_poll_seconds."""
    key_cache_size: int = 10_000
    """Verified API keys (and signed-in sessions) kept in memory per process; the least recently used go."""
    revocation_poll_seconds: float = 0.25
    """How often each process reads the revocation log (revoked keys, logged-out sessions)."""
    public_rate_limit: float = 5.0
    """Requests per second one client address may make to the endpoints that need no credentials
    (register, login, refresh, password reset, Google sign-in)."""
    public_rate_burst: int = 20
    """Burst of the same token bucket."""

    def __post_init__(self) -> None:
        _require(self.access_token_minutes >= 1, "auth.access_token_minutes", "must be at least 1")
        _require(self.refresh_token_days >= 1, "auth.refresh_token_days", "must be at least 1")
        _require(self.lockout_failures >= 1, "auth.lockout_failures", "must be at least 1")
        _require(self.lockout_minutes >= 1, "auth.lockout_minutes", "must be at least 1")
        _require(self.reset_token_minutes >= 1, "auth.reset_token_minutes", "must be at least 1")
        _require(self.verify_token_hours >= 1, "auth.verify_token_hours", "must be at least 1")
        _require("{token}" in self.reset_url, "auth.reset_url", "must contain {token}")
        _require("{token}" in self.verify_url, "auth.verify_url", "must contain {token}")
        _require(len(self.signup_currency) == 3, "auth.signup_currency", "must be a 3-letter ISO 4217 code")
        _require(self.key_cache_seconds >= 0, "auth.key_cache_seconds", "must not be negative")
        _require(self.key_cache_size >= 1, "auth.key_cache_size", "must be at least 1")
        _require(0 < self.revocation_poll_seconds <= 1, "auth.revocation_poll_seconds", "must be in (0, 1]")
        _require(self.public_rate_limit > 0, "auth.public_rate_limit", "must be positive")
        _require(self.public_rate_burst >= 1, "auth.public_rate_burst", "must be at least 1")


class MailSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The SMTP server that carries verification and password-reset mail (engine/identity/mailer.py)."""

    host: str = "127.0.0.1"
    """SMTP server host."""
    port: int = 25
    """SMTP server port (587 for STARTTLS submission, 465 for implicit TLS)."""
    tls: str = "none"
    """none, starttls (upgrade after connecting) or tls (TLS from the first byte)."""
    user: str = ""
    """Login name, if the server wants one (then password is needed too)."""
    password: str = ""
    """Password for user; better set as SMSENGINE_MAIL_PASSWORD than in the file."""
    from_address: str = "smsengine <no-reply@localhost>"
    """The From of every mail."""
    timeout_seconds: float = 30.0
    """Seconds to wait for the server at each step before trying again later."""

    def __post_init__(self) -> None:
        _require(0 < self.port <= 65535, "mail.port", "must be between 1 and 65535")
        _require(self.tls in {"none", "starttls", "tls"}, "mail.tls", "must be none, starttls or tls")
        _require(bool(self.user) <= bool(self.password), "mail.password", "mail.user needs a password")
        _require("@" in self.from_address, "mail.from_address", "must be an e-mail address")
        _require(self.timeout_seconds > 0, "mail.timeout_seconds", "must be positive")


class OidcSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Sign-in with Google, or any OpenID Connect provider (engine/identity/oidc.py)."""

    issuer: str = "https://accounts.google.com"
    """The provider's issuer URL; its discovery document is ISSUER/.well-known/openid-configuration."""
    client_id: str = ""
    """The OAuth client id registered with the provider. Empty: Google sign-in answers 503."""
    client_secret: str = ""
    """The client's secret (SMSENGINE_OIDC_CLIENT_SECRET)."""
    redirect_uri: str = "http://127.0.0.1:8080/auth/google/callback"
    """Where the provider sends the browser back with ?code=&state= (registered with the provider); that
    page POSTs both to /v1/auth/google."""
    scopes: str = "openid email profile"
    """Scopes asked for."""
    timeout_seconds: float = 10.0
    """Seconds to wait for the provider."""

    def __post_init__(self) -> None:
        _require(self.issuer.startswith(("https://", "http://")), "oidc.issuer", "must be an http(s) URL")
        _require("openid" in self.scopes.split(), "oidc.scopes", "must include openid")
        _require(self.timeout_seconds > 0, "oidc.timeout_seconds", "must be positive")


class PortalSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the account-facing API tells customers about reaching us (GET /v1/settings/smpp)."""

    smpp_host: str = ""
    """SMPP host customers bind to, as they reach it. Empty: smpp.host."""
    smpp_port: int = 0
    """SMPP port customers bind to, as they reach it (behind a load balancer, say). 0: the server's own."""

    def __post_init__(self) -> None:
        _require(0 <= self.smpp_port <= 65535, "portal.smpp_port", "must be between 0 and 65535")


class PaymentsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Top-ups through a payment provider (engine/payments): checkout sessions and auto top-up."""

    provider: str = "stripe"
    """The payment provider adapter; only "stripe" exists."""
    stripe_api_key: str = ""
    """Stripe secret key (sk_live_... / sk_test_...). Empty: checkout and auto top-up answer 503."""
    stripe_api_base: str = "https://api.stripe.com"
    """Base URL of the Stripe API; tests and the demo point it at the local stand-in."""
    stripe_webhook_secret: str = ""
    """Signing secret of the Stripe webhook endpoint (whsec_...): events are verified with it."""
    checkout_success_url: str = "http://127.0.0.1:8080/checkout/success"
    """Where Stripe Checkout sends the customer after paying (unless the request names another)."""
    checkout_cancel_url: str = "http://127.0.0.1:8080/checkout/cancel"
    """Where Stripe Checkout sends the customer who gives up."""
    auto_topup_interval: float = 30.0
    """Seconds between looks at the balances of accounts with auto top-up (also woken by balance.low)."""
    seller: str = "smsengine"
    """The seller named on invoices (name, then address lines separated by '|')."""

    def __post_init__(self) -> None:
        _require(self.provider == "stripe", "payments.provider", 'only "stripe" is supported')
        _require(self.auto_topup_interval > 0, "payments.auto_topup_interval", "must be positive")


class LogSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    level: str = "info"
    """debug, info, warning or error."""
    format: str = "console"
    """console (human) or json (one object per line)."""

    def __post_init__(self) -> None:
        _require(self.level in {"debug", "info", "warning", "error"}, "log.level", "debug|info|warning|error")
        _require(self.format in {"console", "json"}, "log.format", "must be console or json")


class SecuritySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    allowed_private_targets: str = ""
    """Comma-separated host names and CIDR blocks that webhooks and account callback URLs may target
    although they are private, loopback or link-local (on-premises receivers; the test suite's local
    receivers). Everything else private is refused at creation and again at each delivery."""
    bind_failures_before_delay: int = 3
    """Failed SMPP binds from one address (within bind_failure_window) answered at once; each later
    failure's answer is delayed by bind_failure_delay more seconds (capped at 5 s)."""
    bind_failure_delay: float = 0.5
    """Seconds added to the answer of each failed bind beyond bind_failures_before_delay."""
    bind_failures_before_block: int = 10
    """Failed binds from one address (within bind_failure_window) after which every bind attempt from
    it is refused without checking, for bind_block_seconds; 0: never."""
    bind_block_seconds: float = 300.0
    """How long an address is refused after bind_failures_before_block failures."""
    bind_failure_window: float = 600.0
    """Seconds a failed bind counts against its address."""

    def __post_init__(self) -> None:
        from engine.outbox.url_guard import TargetPolicy

        try:
            TargetPolicy.parse(self.allowed_private_targets)
        except ValueError as exc:
            raise SettingsError(f"invalid setting security.allowed_private_targets: {exc}") from None
        _require(self.bind_failures_before_delay >= 0, "security.bind_failures_before_delay", "must be >= 0")
        _require(self.bind_failure_delay >= 0, "security.bind_failure_delay", "must not be negative")
        _require(self.bind_failures_before_block >= 0, "security.bind_failures_before_block", "must be >= 0")
        _require(self.bind_block_seconds > 0, "security.bind_block_seconds", "must be positive")
        _require(self.bind_failure_window > 0, "security.bind_failure_window", "must be positive")


class MetricsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str = ""
    """When set, GET /metrics answers only requests with `Authorization: Bearer <token>`; empty: anyone
    who reaches the HTTP port may scrape (put it behind your network's own controls)."""


class DashboardSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    session_hours: float = 12.0
    """How long an operator's dashboard login lasts."""
    secret: str = ""
    """Key signing the dashboard's session cookie; empty: a random one per process start (every operator
    logs in again after a restart, and several engine processes do not share logins)."""
    secure_cookie: bool = False
    """Mark the session cookie Secure (set it when the dashboard is served over HTTPS)."""
    push_interval: float = 1.0
    """Seconds between two live updates pushed to an open dashboard (server-sent events)."""

    def __post_init__(self) -> None:
        _require(self.session_hours > 0, "dashboard.session_hours", "must be positive")
        _require(self.push_interval >= 0.1, "dashboard.push_interval", "must be at least 0.1")


class SocialSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    x_api_base_url: str = "https://api.x.com"
    """Base URL of the X API v2 (the X simulator's URL in tests and the demo)."""
    x_authorize_url: str = "https://x.com/i/oauth2/authorize"
    """Where users approve an X app (OAuth 2.0 authorization code with PKCE)."""
    x_token_url: str = ""
    """X's OAuth 2.0 token endpoint. Empty: x_api_base_url + /2/oauth2/token."""
    x_client_id: str = ""
    """OAuth 2.0 client id of the deployment's X app (customers may bring their own: BYOK)."""
    x_client_secret: str = ""
    """Its client secret; empty for a public client (then PKCE alone protects the code)."""
    x_redirect_uri: str = ""
    """The callback URL registered with the X app, to which X sends users back with a code."""
    x_scopes: str = (
        "tweet.read tweet.write tweet.moderate.write users.read like.read like.write dm.read dm.write "
        "offline.access follows.read follows.write bookmark.read media.write"
    )
    """Space-separated OAuth 2.0 scopes requested when connecting an X account (offline.access: refresh)."""
    bluesky_service_url: str = "https://bsky.social"
    """The Bluesky PDS (entryway) accounts sign in to; each account keeps the PDS its session names."""
    bluesky_chat_proxy: str = "did:web:api.bsky.chat#bsky_chat"
    """atproto-proxy header value for chat.bsky.* calls (DMs), as the Bluesky chat service requires."""
    encryption_keys: str = ""
    """Key ring sealing tokens and app secrets: "id:base64url(32 bytes)" entries, comma-separated, the first
    seals. Empty: read encryption_key_file."""
    encryption_key_file: str = ""
    """File holding the key ring text (one entry a line). Empty: data_dir/social-keys.txt, created on first
    start with one fresh key."""
    refresh_margin_seconds: float = 300.0
    """Access tokens expiring within this many seconds are refreshed before use."""
    request_timeout_seconds: float = 30.0
    """Timeout of each platform API request."""
    oauth_state_ttl_seconds: float = 600.0
    """How long a started account connection (OAuth state, PKCE verifier) waits for its callback."""
    prices: dict[str, int] = msgspec.field(
        default_factory=lambda: {
            "post.create": 10_000, "post.reply": 10_000, "dm.send": 5_000, "dm.send_conversation": 5_000,
            "post.delete": 0, "post.like": 1_000, "post.unlike": 0, "reply.hide": 1_000,
        }
    )  # fmt: skip
    """Default price of each social action in micro-units of the account's currency (1,000,000 = one
    unit), held at accept and captured on success; an account's own list (table social_prices) wins."""
    max_attempts: int = 5
    """Calls of one social job before a 5xx or timeout becomes its final failure (PLATFORM_ERROR)."""
    retry_backoff_seconds: float = 1.0
    """Seconds before a social job's first retry after a 5xx or timeout; doubled for each next one."""
    poll_interval_seconds: float = 60.0
    """Seconds between two polls of every connected account's DMs, comments and mentions (the inbox);
    0: no polling."""

    def __post_init__(self) -> None:
        for name in ("x_api_base_url", "bluesky_service_url"):
            url = getattr(self, name)
            _require(url.startswith(("http://", "https://")), f"social.{name}", "must be an http(s) URL")
        _require(self.refresh_margin_seconds >= 0, "social.refresh_margin_seconds", "must not be negative")
        _require(self.request_timeout_seconds > 0, "social.request_timeout_seconds", "must be positive")
        _require(self.oauth_state_ttl_seconds > 0, "social.oauth_state_ttl_seconds", "must be positive")
        _require(all(v >= 0 for v in self.prices.values()), "social.prices", "must not be negative")
        _require(self.max_attempts >= 1, "social.max_attempts", "must be at least 1")
        _require(self.poll_interval_seconds >= 0, "social.poll_interval_seconds", "must not be negative")
        _require(self.retry_backoff_seconds >= 0, "social.retry_backoff_seconds", "must not be negative")


class WhatsAppSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """WhatsApp Business over Meta's Cloud API (engine/whatsapp/): one Meta app for the deployment."""

    api_base: str = "https://graph.facebook.com"
    """Base URL of the Graph API (the local Meta simulator's URL in tests and the demo)."""
    api_version: str = "v21.0"
    """Graph API version in every path: {api_base}/{api_version}/{phone_number_id}/messages."""
    access_token: str = ""
    """The app's system-user access token (Bearer), with access to the connected WABAs. Empty: WhatsApp is
    off (sends answer 503)."""
    app_secret: str = ""
    """The Meta app secret: inbound webhooks must carry X-Hub-Signature-256 = sha256=HMAC(app_secret,
    body)."""
    verify_token: str = ""
    """The token Meta echoes in the webhook subscription check (GET ...?hub.verify_token=)."""
    throughput: float = 80.0
    """Messages per second to the Cloud API (Meta's default per business number is 80)."""
    in_flight: int = 32
    """Requests to the Cloud API under way at once."""
    request_timeout_seconds: float = 15.0
    """Timeout of each Cloud API request; no answer in time is retried, flagged possible_duplicate."""
    window_hours: float = 24.0
    """The customer service window: free-form (session) messages only this long after the customer's last
    inbound message; else a template."""
    price_marketing: int = 25_000
    """Micro-units of the account's currency per template message of category MARKETING."""
    price_utility: int = 10_000
    """Per UTILITY template message."""
    price_authentication: int = 10_000
    """Per AUTHENTICATION template message."""
    price_service: int = 5_000
    """Per free-form (session) message within the customer service window."""

    def __post_init__(self) -> None:
        _require(
            self.api_base.startswith(("http://", "https://")), "whatsapp.api_base", "must be an http(s) URL"
        )
        _require(self.throughput > 0, "whatsapp.throughput", "must be positive")
        _require(self.in_flight > 0, "whatsapp.in_flight", "must be positive")
        _require(self.request_timeout_seconds > 0, "whatsapp.request_timeout_seconds", "must be positive")
        _require(self.window_hours > 0, "whatsapp.window_hours", "must be positive")
        for name in ("price_marketing", "price_utility", "price_authentication", "price_service"):
            _require(getattr(self, name) >= 0, f"whatsapp.{name}", "must not be negative")


class NodeSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """This engine process as one node of several sharing the database (engine/core/nodes.py)."""

    name: str = ""
    """The node's stable identity: a restarted node of the same name resumes its own messages. Empty:
    host:smpp_port when the port is fixed, else a fresh name at every start."""
    lease_seconds: float = 10.0
    """A node silent for this long is dead: its messages in flight are taken over by a live node. A node
    that could not renew its lease for this long stops sending until it can (it may have been taken over)."""
    heartbeat_seconds: float = 2.0
    """How often a node renews its lease (and looks for dead nodes, carrier bind shares, bind counts)."""

    def __post_init__(self) -> None:
        _require(self.lease_seconds > 0, "node.lease_seconds", "must be positive")
        _require(
            0 < self.heartbeat_seconds <= self.lease_seconds / 3,
            "node.heartbeat_seconds",
            "must be positive and at most a third of node.lease_seconds",
        )
        _require(len(self.name) <= 200, "node.name", "at most 200 characters")


class MonitorSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Xquik's account monitors, events and trends (engine/xquik/monitors/), read from X with an app-only
    token at social.x_api_base_url."""

    x_bearer_token: str = ""
    """App-only bearer token of the deployment's X app (OAuth 2.0 client credentials). Empty: monitors
    cannot resolve users or poll, and creating one or reading trends answers 502 x_api_unauthorized."""
    poll_interval_seconds: float = 15.0
    """Seconds between two polls of every active monitor's timeline; 0: no polling."""
    page_size: int = 100
    """Posts asked per timeline page (X: 5-100)."""
    billing_interval_seconds: float = 300.0
    """How often the hours of active monitors are charged (each full hour once)."""
    trends_cache_seconds: float = 900.0
    """How long a WOEID's trends are served from the cache before X is asked again."""

    def __post_init__(self) -> None:
        _require(self.poll_interval_seconds >= 0, "monitors.poll_interval_seconds", "must not be negative")
        _require(5 <= self.page_size <= 100, "monitors.page_size", "must be between 5 and 100")
        _require(self.billing_interval_seconds > 0, "monitors.billing_interval_seconds", "must be positive")
        _require(self.trends_cache_seconds >= 0, "monitors.trends_cache_seconds", "must not be negative")


class RadarSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Xquik's radar (engine/xquik/radar.py): the sources with a public API, each at its base URL."""

    hacker_news_url: str = "https://hacker-news.firebaseio.com"
    """Hacker News' Firebase API (/v0/topstories.json, /v0/item/{id}.json)."""
    wikipedia_url: str = "https://api.wikimedia.org"
    """Wikimedia's feed API (/feed/v1/wikipedia/{lang}/featured/{yyyy}/{mm}/{dd}: mostread)."""
    refresh_seconds: float = 600.0
    """How long fetched radar items are served before the sources are asked again."""
    request_timeout_seconds: float = 10.0


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    data_dir: str = ".data"
    """Directory for the embedded servers' data, demo credentials and other local state."""
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    smpp: SmppServerSettings = msgspec.field(default_factory=SmppServerSettings)
    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    oidc: OidcSettings = msgspec.field(default_factory=OidcSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    portal: PortalSettings = msgspec.field(default_factory=PortalSettings)
    payments: PaymentsSettings = msgspec.field(default_factory=PaymentsSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    dashboard: DashboardSettings = msgspec.field(default_factory=DashboardSettings)
    social: SocialSettings = msgspec.field(default_factory=SocialSettings)
    whatsapp: WhatsAppSettings = msgspec.field(default_factory=WhatsAppSettings)
    node: NodeSettings = msgspec.field(default_factory=NodeSettings)
    monitors: MonitorSettings = msgspec.field(default_factory=MonitorSettings)
    radar: RadarSettings = msgspec.field(default_factory=RadarSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()


def _require(ok: bool, name: str, why: str) -> None:
    if not ok:
        raise SettingsError(f"invalid setting {name}: {why}")


def _sections() -> dict[str, set[str]]:
    """Section name -> its field names, read off the Settings struct itself."""
    out: dict[str, set[str]] = {}
    for field in msgspec.structs.fields(Settings):
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            out[field.name] = {f.name for f in msgspec.structs.fields(field.type)}
    return out


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Turn SMSENGINE_SECTION_FIELD variables into a nested dict; an unknown name is an error."""
    sections = _sections()
    top_level = {f.name for f in msgspec.structs.fields(Settings)} - set(sections)
    out: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :].lower()
        if rest in top_level:
            out[rest] = value
            continue
        for section, fields in sections.items():
            field = rest[len(section) + 1 :]
            if rest.startswith(section + "_") and field in fields:
                out.setdefault(section, {})[field] = value
                break
        else:
            raise SettingsError(f"unknown setting in environment: {key}")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read config.toml (if given and present), apply SMSENGINE_* variables, then explicit overrides."""
    raw: dict[str, Any] = {}
    if config_path is not None:
        path = Path(config_path)
        if path.exists():
            try:
                raw = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    raw = _merge(raw, _env_overrides(os.environ if env is None else env))
    raw = _merge(raw, overrides)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.smpp.port`": name the setting and its variable the way a user writes it.
        message, _, where = str(exc).rpartition(" - at `$.")
        if not message:
            raise SettingsError(f"invalid settings: {exc}") from exc
        if message.startswith("invalid setting "):  # raised by a __post_init__ check, already named
            raise SettingsError(message) from exc
        setting = where.rstrip("`")
        variable = ENV_PREFIX + setting.replace(".", "_").upper()
        raise SettingsError(f"invalid setting {setting} (environment {variable}): {message}") from exc
