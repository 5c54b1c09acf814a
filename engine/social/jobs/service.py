"""`SocialJobs`: the one service every social surface calls to post, reply, DM and moderate.

See the package docstring (engine/social/jobs/__init__.py) for the API. Submitting validates the
action's params and text (engine/social/text/limits.py), checks the connected account, prices the
action (the account's own price list, else settings `social.prices`) and hands a `PreparedSocialJob`
to the engine's `Acceptor`: the job row and its reservation commit in the same group commit as SMS
(engine/core/accept.py), and the job goes to the one dispatch loop. This module must never call a
platform for a write (the dispatch loop does), nor settle money outside a transaction that also
changes the job's row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from billing.items import ItemSettle, settle_items
from billing.model import PostingKind
from engine import consent
from engine.core.accept import Acceptor
from engine.core.ids import MessageIdGenerator, format_id
from engine.core.rejections import Reject, Rejected
from engine.dispatch.clock import Clock
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.job import Job
from engine.social.accounts.sessions import SocialAccounts
from engine.social.actions import PARAMS, Action, CreatePost, Reply, SendConversationDm, SendDm
from engine.social.connector import PlatformConnector, RateRule, perform, rules_for
from engine.social.errors import NeedsReauth, RateLimited
from engine.social.jobs.limits import RateLimiter
from engine.social.jobs.model import WRITES, PreparedSocialJob, SocialJob, lane_of
from engine.social.jobs.outcomes import SocialOutcomes
from engine.social.jobs.shared_limits import SharedWindows
from engine.social.jobs.target import AccountTarget, AttemptPolicy
from engine.social.text.limits import TextCheck, check_text


class SocialJobError(Exception):
    """A request the service refuses; `code` is stable, `status` the HTTP status surfaces usually give."""

    def __init__(
        self, code: str, message: str, status: int = 400, meta: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.meta = meta or {}


class SocialJobView(msgspec.Struct, frozen=True, kw_only=True):
    """A social job as every surface reads it."""

    id: int
    ref: str  # the id as 16 hex digits, as SMS message ids are written
    account_id: int
    social_account_id: int
    platform: str
    action: str
    params: dict[str, Any]
    status: str  # scheduled | queued | sending | succeeded | failed | canceled
    attempts: int
    possible_duplicate: bool
    scheduled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    final_at: datetime | None
    result: dict[str, Any] | None
    error_code: str | None
    error: str
    idempotency_key: str | None
    client_ref: str | None
    tag: str | None
    retry_of: int | None
    amount: int
    money: str


class Submitted(msgspec.Struct, frozen=True):
    job_id: int
    created: bool  # False: an earlier submit with the same idempotency key (its job id is returned)


_COLUMNS = (
    "id, account_id, social_account_id, platform, action, params, status, attempts, possible_duplicate, "
    "scheduled_at, created_at, updated_at, final_at, result, error_code, error, idempotency_key, client_ref, "
    "tag, retry_of, amount, money"
)
_CANCEL = f"""
UPDATE social_jobs SET status = 'canceled', final_at = now(), updated_at = now(), error = 'canceled',
    money = CASE WHEN money = 'reserved' THEN 'released' ELSE money END,
    settle_batch = CASE WHEN money = 'reserved' THEN $3 ELSE settle_batch END
WHERE id = $1 AND account_id = $2 AND status IN ('scheduled', 'queued')
RETURNING {_COLUMNS}, settle_batch IS NOT DISTINCT FROM $3 AS settled
"""
_MAX_LIST = 200


def _decode_json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def view_of(row: asyncpg.Record) -> SocialJobView:
    return SocialJobView(
        id=row["id"], ref=format_id(row["id"]), account_id=row["account_id"],
        social_account_id=row["social_account_id"], platform=row["platform"], action=row["action"],
        params=_decode_json(row["params"]), status=row["status"], attempts=row["attempts"],
        possible_duplicate=row["possible_duplicate"], scheduled_at=row["scheduled_at"],
        created_at=row["created_at"], updated_at=row["updated_at"], final_at=row["final_at"],
        result=_decode_json(row["result"]), error_code=row["error_code"], error=row["error"],
        idempotency_key=row["idempotency_key"], client_ref=row["client_ref"], tag=row["tag"],
        retry_of=row["retry_of"], amount=row["amount"], money=row["money"],
    )  # fmt: skip


def text_check(platform: str, action: Action, params: msgspec.Struct) -> TextCheck | None:
    """The text limit check of a publishing action (None: the action carries no text)."""
    if isinstance(params, CreatePost | Reply):
        return check_text(platform, "post", params.text)
    if isinstance(params, SendDm | SendConversationDm):
        return check_text(platform, "dm", params.text)
    return None


# Who wrote in a DM conversation of this connected account (the account itself is never an author there).
_PARTICIPANTS = """
SELECT DISTINCT author_id FROM social_inbox
WHERE social_account_id = $1 AND kind = 'dm' AND conversation_id = $2 AND direction = 'in'
  AND author_id IS NOT NULL
"""


class SocialJobs:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        accounts: SocialAccounts,
        connectors: Mapping[str, PlatformConnector],
        dispatcher: Dispatcher,
        ids: MessageIdGenerator,
        clock: Clock,
        outcomes: SocialOutcomes,
        prices: Mapping[str, int],
        policy: AttemptPolicy | None = None,
        in_flight_per_target: int = 4,
        shared: SharedWindows | None = None,
    ) -> None:
        self.pool = pool
        self.accounts = accounts
        self.connectors = dict(connectors)
        self.dispatcher = dispatcher
        self.outcomes = outcomes
        self.acceptor: Acceptor | None = None  # set by the engine once its acceptor exists
        self.limiter = RateLimiter()  # this process' windows, unless `shared` (every node's, in Redis)
        self.shared = shared
        self.targets: dict[str, AccountTarget] = {}
        self._ids = ids
        self.clock = clock
        self._prices = dict(prices)
        self._policy = policy or AttemptPolicy()
        self._in_flight = in_flight_per_target
        self._waiters: dict[int, list[asyncio.Future[SocialJobView]]] = {}

    # ------------------------------------------------------------------------------ the loop side

    def admit(self, jobs: Sequence[Job]) -> None:
        """The acceptor's and recovery's `on_jobs`: targets for new accounts first, then the loop."""
        for job in jobs:
            if isinstance(job, SocialJob) and not self.dispatcher.has_target(job.target):
                connector = self.connectors.get(job.platform)
                if connector is None:
                    continue  # the loop fails it: no target of its route is configured
                target = AccountTarget(
                    job.target, social_account_id=job.social_account_id, platform=job.platform,
                    pool=self.pool, accounts=self.accounts, connector=connector, limiter=self.limiter,
                    shared=self.shared,
                    clock=self.clock, policy=self._policy, in_flight_limit=self._in_flight,
                )  # fmt: skip
                self.targets[job.target] = target
                self.dispatcher.add_target(target)
        self.dispatcher.enqueue_many(jobs)

    def job_final(self, job_id: int, _data: dict[str, Any]) -> None:
        """The outcome sink's callback after its commit: wake whoever waits for this job."""
        waiters = self._waiters.pop(job_id, None)
        if waiters:
            asyncio.get_running_loop().create_task(self._resolve(job_id, waiters))

    async def _resolve(self, job_id: int, waiters: list[asyncio.Future[SocialJobView]]) -> None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM social_jobs WHERE id = $1", job_id)
        for future in waiters:
            if not future.done() and row is not None:
                future.set_result(view_of(row))

    async def close(self) -> None:
        await asyncio.gather(*(t.close() for t in self.targets.values()))

    def new_id(self) -> int:
        """A fresh job id (for rows recorded without a dispatch: imported posts)."""
        return self._ids.next_id()

    # ------------------------------------------------------------------------------ prices

    async def price_of(self, account_id: int, action: Action) -> int:
        own = await self.pool.fetchval(
            "SELECT amount FROM social_prices WHERE account_id = $1 AND action = $2", account_id, action.value
        )
        return int(own) if own is not None else int(self._prices.get(action.value, 0))

    async def set_price(self, account_id: int, action: Action, amount: int | None) -> None:
        """An account's own price of `action` in micro-units; None: back to the default."""
        if amount is None:
            await self.pool.execute(
                "DELETE FROM social_prices WHERE account_id = $1 AND action = $2", account_id, action.value
            )
            return
        if amount < 0:
            raise ValueError("a price must not be negative")
        await self.pool.execute(
            """INSERT INTO social_prices (account_id, action, amount) VALUES ($1, $2, $3)
               ON CONFLICT (account_id, action) DO UPDATE SET amount = $3, updated_at = now()""",
            account_id, action.value, amount,
        )  # fmt: skip

    # ------------------------------------------------------------------------------ submit

    def params_of(self, action: Action, params: msgspec.Struct | Mapping[str, Any]) -> msgspec.Struct:
        if action not in WRITES:
            raise SocialJobError("unsupported_action", f"{action.value} is not a job action")
        kind = PARAMS[action]
        if isinstance(params, kind):
            return params
        try:
            return msgspec.convert(
                params if isinstance(params, Mapping) else msgspec.to_builtins(params), kind
            )
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            raise SocialJobError("invalid_params", str(exc)) from None

    async def submit(
        self,
        account_id: int,
        social_account_id: int,
        action: Action | str,
        params: msgspec.Struct | Mapping[str, Any],
        *,
        scheduled_for: datetime | None = None,
        idempotency_key: str | None = None,
        client_ref: str | None = None,
        tag: str | None = None,
        retry_of: int | None = None,
        amount: int | None = None,
    ) -> Submitted:
        """Accept one job durably (row and reservation committed) and hand it to the dispatch loop.
        `amount`: its price in micro-units (None: the price list's; a surface that meters in its own
        credits passes 0)."""
        try:
            action = Action(action)
        except ValueError:
            raise SocialJobError("unsupported_action", f"unknown action {action!r}") from None
        struct = self.params_of(action, params)
        record = await self.accounts.store.get(social_account_id, account_id=account_id)
        if record is None:
            raise SocialJobError("account_not_found", f"no connected account {social_account_id}", 404)
        if record.state != "active":
            raise SocialJobError(
                "ACCOUNT_NEEDS_REAUTH", record.state_reason or f"the account is {record.state}", 409
            )
        platform = record.account.platform
        check = text_check(platform, action, struct)
        if check is not None and not check.ok:
            raise SocialJobError(
                "text_too_long" if check.length > check.limit else "invalid_text",
                "; ".join(check.problems),
                meta={"length": check.length, "limit": check.limit, "unit": check.unit},
            )
        if idempotency_key is not None:
            existing = await self._by_key(account_id, idempotency_key)
            if existing is not None:
                return Submitted(existing, False)
        if scheduled_for is not None and scheduled_for.tzinfo is None:
            raise SocialJobError("invalid_params", "scheduled_for must carry a time zone")
        if isinstance(struct, SendDm | SendConversationDm):
            await self._refuse_opted_out(account_id, social_account_id, platform, struct)
        job_id = self._ids.next_id()
        prepared = PreparedSocialJob(
            id=job_id, account_id=account_id, social_account_id=social_account_id, platform=platform,
            action=action, params=msgspec.json.encode(struct).decode(),
            lane=lane_of(social_account_id, action, struct, job_id),
            amount=await self.price_of(account_id, action) if amount is None else amount,
            scheduled_at=scheduled_for,
            idempotency_key=idempotency_key, client_ref=client_ref, tag=tag, retry_of=retry_of,
        )  # fmt: skip
        assert self.acceptor is not None, "the engine sets the acceptor"
        try:
            refused = await self.acceptor.submit(prepared)
        except Rejected as exc:
            refused = exc
        except asyncpg.UniqueViolationError:
            assert idempotency_key is not None
            existing = await self._by_key(account_id, idempotency_key)
            assert existing is not None
            return Submitted(existing, False)
        if refused is not None:
            if refused.reject is Reject.INSUFFICIENT_BALANCE:
                raise SocialJobError("INSUFFICIENT_BALANCE", refused.reason, 402)
            raise SocialJobError("SERVICE_UNAVAILABLE", refused.reason, 503)
        return Submitted(job_id, True)

    async def _refuse_opted_out(
        self, account_id: int, social_account_id: int, platform: str, dm: SendDm | SendConversationDm
    ) -> None:
        """422-like `opted_out` when the DM's recipient (a conversation's: who wrote in it, and the
        two ids of an X one-to-one conversation "<id>-<id>") opted out, by SMS or by DM (engine/consent)."""
        if isinstance(dm, SendDm):
            recipients = [dm.recipient_id]
        else:
            rows = await self.pool.fetch(_PARTICIPANTS, social_account_id, dm.conversation_id)
            recipients = [r["author_id"] for r in rows]
            if platform == "x":
                recipients += [p for p in dm.conversation_id.split("-") if p.isdigit()]
        addresses = [consent.social_address(platform, r) for r in recipients if r]
        async with self.pool.acquire() as conn:
            hit = await consent.opted_out(conn, account_id, addresses)
        if hit is not None:
            raise SocialJobError(
                "opted_out", "the recipient opted out of messages", 422, {"recipient": hit.partition(":")[2]}
            )

    async def _by_key(self, account_id: int, key: str) -> int | None:
        found = await self.pool.fetchval(
            "SELECT id FROM social_jobs WHERE account_id = $1 AND idempotency_key = $2", account_id, key
        )
        return int(found) if found is not None else None

    # ------------------------------------------------------------------------------ read, wait

    async def get(self, account_id: int, job_id: int) -> SocialJobView | None:
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM social_jobs WHERE id = $1 AND account_id = $2", job_id, account_id
        )
        return view_of(row) if row is not None else None

    async def list(
        self,
        account_id: int,
        *,
        social_account_id: int | None = None,
        status: str | Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        tag: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[SocialJobView]:
        """Newest first; page on with before_id = the last id returned."""
        statuses = [status] if isinstance(status, str) else list(status) if status is not None else None
        rows = await self.pool.fetch(
            f"""SELECT {_COLUMNS} FROM social_jobs
                WHERE account_id = $1 AND ($2::bigint IS NULL OR social_account_id = $2)
                  AND ($3::text[] IS NULL OR status = ANY($3)) AND ($4::text[] IS NULL OR action = ANY($4))
                  AND ($5::text IS NULL OR tag = $5) AND ($6::bigint IS NULL OR id < $6)
                ORDER BY id DESC LIMIT $7""",
            account_id, social_account_id, statuses, list(actions) if actions is not None else None, tag,
            before_id, max(1, min(limit, _MAX_LIST)),
        )  # fmt: skip
        return [view_of(r) for r in rows]

    async def wait(self, account_id: int, job_id: int, within: float = 30.0) -> SocialJobView:
        """The job once it is final (or as it stands when `within` seconds have passed)."""
        future: asyncio.Future[SocialJobView] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        view = await self.get(account_id, job_id)
        if view is None:
            raise SocialJobError("not_found", f"no job {job_id}", 404)
        if view.final_at is not None:
            return view
        try:
            async with asyncio.timeout(within):
                return await future
        except TimeoutError:
            return await self.get(account_id, job_id) or view

    # ------------------------------------------------------------------------------ change

    async def cancel(self, account_id: int, job_id: int) -> SocialJobView:
        """A job that has not gone out yet (scheduled or queued) is final as canceled, its money released."""
        batch = self._ids.next_id()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_CANCEL, job_id, account_id, batch)
            if row is not None and row["settled"] and row["money"] == "released":
                release = ItemSettle(PostingKind.RELEASE, account_id, row["amount"], 1, "", row["platform"])
                await settle_items(conn, batch, [release])
        if row is None:
            current = await self.get(account_id, job_id)
            if current is None:
                raise SocialJobError("not_found", f"no job {job_id}", 404)
            raise SocialJobError("not_cancelable", f"the job is {current.status}", 409)
        return view_of(row)

    async def retry(self, account_id: int, job_id: int) -> Submitted:
        """A failed (or canceled) job again, as a new job with the same params (retry_of = its id)."""
        view = await self.get(account_id, job_id)
        if view is None:
            raise SocialJobError("not_found", f"no job {job_id}", 404)
        if view.status not in ("failed", "canceled"):
            raise SocialJobError("not_retryable", f"the job is {view.status}", 409)
        return await self.submit(
            account_id, view.social_account_id, view.action, view.params, client_ref=view.client_ref,
            tag=view.tag, retry_of=view.id,
        )  # fmt: skip

    async def update(
        self,
        account_id: int,
        job_id: int,
        *,
        params: msgspec.Struct | Mapping[str, Any] | None = None,
        scheduled_for: datetime | None = None,
    ) -> SocialJobView:
        """New params and/or time for a job still scheduled (or queued, for params). The loop reads the
        row before each attempt, so new params are what goes out; a new time is kept by the attempt."""
        view = await self.get(account_id, job_id)
        if view is None:
            raise SocialJobError("not_found", f"no job {job_id}", 404)
        moving = scheduled_for is not None and view.status != "scheduled"
        if view.status not in ("scheduled", "queued") or moving:
            raise SocialJobError("not_editable", f"the job is {view.status}", 409)
        action = Action(view.action)
        encoded = None
        if params is not None:
            changes = params if isinstance(params, Mapping) else msgspec.to_builtins(params)
            merged = {**view.params, **changes}
            struct = self.params_of(action, merged)
            check = text_check(view.platform, action, struct)
            if check is not None and not check.ok:
                raise SocialJobError("text_too_long", "; ".join(check.problems))
            encoded = msgspec.json.encode(struct).decode()
        row = await self.pool.fetchrow(
            f"""UPDATE social_jobs SET params = coalesce($3::jsonb, params),
                    scheduled_at = coalesce($4, scheduled_at), updated_at = now()
                WHERE id = $1 AND account_id = $2 AND status IN ('scheduled', 'queued')
                RETURNING {_COLUMNS}""",
            job_id, account_id, encoded, scheduled_for,
        )  # fmt: skip
        if row is None:
            raise SocialJobError("not_editable", "the job went out meanwhile", 409)
        if scheduled_for is not None:
            self.dispatcher.reschedule(job_id, scheduled_for.timestamp())
        return view_of(row)

    # ------------------------------------------------------------------------------ reads

    async def reserve(self, scope: tuple[str, str], rules: Sequence[RateRule], action: Action) -> float:
        """A call outside the loop (a read, an inbox poll) within the account's windows: 0.0 and its units
        taken, or the seconds until they would allow it."""
        if self.shared is not None:
            return await self.shared.reserve(scope, rules, action)
        return self.limiter.wait(scope, rules, action, self.clock.now())

    async def used(self, rule: RateRule, scope: tuple[str, str]) -> int:
        """Units of `rule` spent in its window now (the limits an account's API shows)."""
        if self.shared is not None:
            return await self.shared.used(rule, scope)
        return self.limiter.used(rule, scope, self.clock.now())

    async def read(
        self, account_id: int, social_account_id: int, action: Action, params: msgspec.Struct
    ) -> Any:
        """A read (post lookup, metrics, mentions, a user) made at once, within the account's rate
        windows: a read that the window has no room for raises RateLimited, as the platform would."""
        session = await self.accounts.session(social_account_id, account_id=account_id)
        connector = self.connectors.get(session.account.platform)
        if connector is None:
            raise NeedsReauth("no connector for this platform", platform=session.account.platform)
        scope = (str(social_account_id), session.account.platform)
        wait = await self.reserve(scope, rules_for(connector, action), action)
        if wait > 0:
            reset = datetime.fromtimestamp(datetime.now(UTC).timestamp() + wait, UTC)
            raise RateLimited(reset, platform=session.account.platform)
        return await perform(connector, session, action, params)
