"""`smsengine` command line: run the engine, simulate a carrier, and operate accounts, carriers and money.

    smsengine run [--config config.toml] [--data-dir DIR] [--demo] [--workers N]
    smsengine simulate-carrier ...
    smsengine simulate-x ... | simulate-bluesky ...             (social platform simulators)
    smsengine accounts create NAME [--currency EUR] [--credit-limit 0] [--callback-url URL]
    smsengine accounts topup ACCOUNT AMOUNT [--key KEY]          (AMOUNT in units: 12.50)
    smsengine accounts list
    smsengine smpp set ACCOUNT SYSTEM_ID PASSWORD [--allow-ip CIDR]... [--max-binds N] [--throughput N]
    smsengine carriers add NAME --host H --port P --system-id S --password P [--binds N] [--window N] ...
    smsengine rates import CARRIER FILE.csv [--replace] | rates export CARRIER FILE.csv
    smsengine prices import ACCOUNT FILE.csv [--replace] | prices export ACCOUNT FILE.csv
    smsengine numbers add ACCOUNT NUMBER                          (MO to NUMBER goes to ACCOUNT)
    smsengine routes explain +447700900123 [--account ACCOUNT]
    smsengine users add ACCOUNT EMAIL [--role owner|admin|member] [--name NAME]
    smsengine apikeys create ACCOUNT [--test] [--permission P]...
    smsengine accounts trust ACCOUNT [--off]                      (its campaigns skip approval)
    smsengine campaigns approve ID | campaigns reject ID [--reason TEXT]
    smsengine senders approve ACCOUNT SENDER | senders reject ACCOUNT SENDER [--reason TEXT]
    smsengine senders require ACCOUNT [--off]                     (sends need an approved sender ID)
    smsengine operators create NAME [--password-stdin]            (dashboard login, at /dashboard)
    smsengine binds log [--peer IP] [--system-id S] [--failed]    (the audit trail of SMPP binds)
    smsengine whatsapp connect ACCOUNT --waba-id ID --phone-number-id ID --number DIGITS [--name NAME]
    smsengine xquik key ACCOUNT [--name NAME]                     (an xq_ key of the Xquik surface)
    smsengine xquik grant ACCOUNT CREDITS --key KEY               (Xquik credits, once per key)
    smsengine ledger check

Every command works against the configured database, or the embedded one in the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import msgspec
import structlog

from engine.infra.logging import configure_logging
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls, provide_services
from engine.infra.settings import Settings, SettingsError, load_settings
from engine.simulation.cli import add_simulator_parser
from engine.social.simulation.cli import add_social_simulator_parsers

log = structlog.get_logger("smsengine")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    return load_settings(args.config, **overrides)


# ------------------------------------------------------------------------------------------- run


async def _run(settings: Settings, urls: ServiceUrls, demo: bool, *, reuse_port: bool = False) -> int:
    """Run the process until a signal (0) or until another node took this one over (3).
    reuse_port: one of several workers sharing the SMPP and HTTP ports (smsengine/workers.py)."""
    exit_code = 0
    from engine.app import Engine
    from engine.simulation.carrier import CarrierSimulator
    from engine.simulation.config import SimulatorConfig
    from smsengine.demo import connect_demo_x, provision_demo, stand_ins, write_demo_file, x_stand_in

    simulator = None
    demo_info: dict[str, Any] | None = None
    if demo:
        # The demo's carrier keeps no copy of what it accepts (tests look at those; a demo runs for days).
        simulator = CarrierSimulator(SimulatorConfig(max_recorded=0))
        await simulator.start("127.0.0.1", 0)
        pool = await asyncpg.create_pool(urls.database_url, min_size=1, max_size=2)
        assert pool is not None
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        demo_info = await provision_demo(pool, settings, simulator.port, settings.http.port)
        await pool.close()
    import redis.asyncio as aioredis

    from http_api.app import create_app
    from http_api.server import serve_http

    redis = aioredis.Redis.from_url(urls.redis_url)
    extras = contextlib.AsyncExitStack()
    standin = None
    if demo and not settings.payments.stripe_api_key:
        # Stripe is a stand-in on loopback for the demo, as in the tests: checkout and top-ups work offline.
        from engine.simulation.stripe_standin import StripeStandIn

        standin = StripeStandIn()
        served = await extras.enter_async_context(serve_http(standin.app(), "127.0.0.1", 0))
        standin.base_url = f"http://127.0.0.1:{served.port}"
        payments = msgspec.structs.replace(
            settings.payments, stripe_api_key=standin.api_key, stripe_api_base=standin.base_url,
            stripe_webhook_secret=standin.webhook_secret,
        )  # fmt: skip
        settings = msgspec.structs.replace(settings, payments=payments)
    meta = None
    if demo and not settings.whatsapp.access_token:
        # WhatsApp goes to a local Meta Cloud API simulator, as in the tests: templates are reviewed at once,
        # sends get statuses back on the engine's signed webhook.
        from engine.simulation.meta_cloud import MetaCloudSimulator
        from smsengine.demo import connect_demo_whatsapp

        meta = MetaCloudSimulator()
        await meta.start("127.0.0.1", 0)
        extras.push_async_callback(meta.stop)
        w = meta.world
        whatsapp = msgspec.structs.replace(
            settings.whatsapp, api_base=meta.base_url, access_token=w.access_token, app_secret=w.app_secret,
            verify_token=w.verify_token,
        )  # fmt: skip
        settings = msgspec.structs.replace(settings, whatsapp=whatsapp)
        await connect_demo_whatsapp(urls.database_url, w)
    x_sim = None
    if demo and not settings.social.x_client_id:  # the X simulator, and the demo's X account on it
        settings, x_sim = await extras.enter_async_context(x_stand_in(settings))
    outside: contextlib.AbstractAsyncContextManager[tuple[Settings, dict[str, Any]]] = (
        stand_ins(settings) if demo else contextlib.nullcontext((settings, {}))
    )
    try:
        # The HTTP server starts once the engine is up and stops before it (leaving the async with first).
        async with (
            outside as (settings, stand_in_info),
            Engine.start(settings, urls, reuse_port=reuse_port) as engine,
            serve_http(
                create_app(engine, redis), settings.http.host, settings.http.port, reuse_port=reuse_port
            ) as http,
        ):
            base_url = f"http://{settings.http.host}:{http.port}"
            if standin is not None:
                standin.webhook_url = f"{base_url}/v1/billing/stripe/webhook"
            if meta is not None:
                meta.world.webhook_url = f"{base_url}/v1/whatsapp/webhook"
                if not await meta.subscribe():  # Meta's hub verification, as when an app subscribes
                    log.error("the WhatsApp webhook did not answer the hub verification")
            _tune_gc()
            if demo_info is not None:
                demo_info["smpp"]["port"] = engine.smpp_port
                demo_info["http"]["base_url"] = base_url
                demo_info["xquik"]["base_url"] = base_url + "/xquik/api/v1"
                if standin is not None:
                    demo_info["stripe"] = {"base_url": standin.base_url}
                if meta is not None:
                    demo_info["whatsapp"] = {
                        "api_base": meta.base_url, "waba_id": meta.world.waba_id,
                        "phone_number_id": meta.world.phone_number_id,
                        "display_phone_number": meta.world.display_phone_number,
                        "customer_message_url": f"{meta.base_url}/_simulator/customer_message",
                    }  # fmt: skip
                demo_info.update(stand_in_info)
                if x_sim is not None:
                    demo_info["social"] = await connect_demo_x(engine, x_sim)
                path = write_demo_file(settings, demo_info)
                print(f"demo account ready ({path}):", flush=True)
                print(
                    f"  SMPP  {demo_info['smpp']['host']}:{engine.smpp_port}  system_id="
                    f"{demo_info['smpp']['system_id']}  password={demo_info['smpp']['password']}",
                    flush=True,
                )
                print(
                    f"  HTTP  {demo_info['http']['base_url']}  api_key={demo_info['http']['api_key']}",
                    flush=True,
                )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            print(
                f"smsengine running: SMPP on {settings.smpp.host}:{engine.smpp_port}, HTTP on {base_url}"
                " (Ctrl-C to stop)",
                flush=True,
            )
            stopping = asyncio.create_task(stop.wait())
            taken_over = asyncio.create_task(engine.taken_over.wait())
            await asyncio.wait([stopping, taken_over], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            taken_over.cancel()
            if engine.taken_over.is_set():  # another node has our messages: leave, to start afresh
                log.error("stopping: this node was taken over by another one")
                exit_code = 3
            log.info("stopping: no new messages, draining")
    finally:
        await redis.aclose()
        await extras.aclose()
        if simulator is not None:
            await simulator.stop()
    return exit_code


def _tune_gc() -> None:
    """Everything built at start (routing tables, settings, code) never becomes garbage: move it out of
    the collector's sight, and let the young generation grow before each collection. The hot path
    allocates short-lived objects by the hundred per message; with the defaults the collector walks
    the whole heap every few thousand of them."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log.level, settings.log.format)
    if args.workers != 1:
        return _cmd_run_workers(args, settings)
    import uvloop

    worker = args.worker_index is not None
    if worker:  # one of `run --workers N`: node <name>:wK on the shared ports
        from engine.core.nodes import default_name
        from smsengine.workers import die_with_parent

        die_with_parent(args.supervisor_pid)
        name = settings.node.name or default_name(settings.smpp.port, settings.data_dir)
        node = msgspec.structs.replace(settings.node, name=f"{name}:w{args.worker_index}")
        settings = msgspec.structs.replace(settings, node=node)
    with provide_services(settings.database.url, settings.redis.url, settings.data_path) as urls:
        return uvloop.run(_run(settings, urls, args.demo, reuse_port=worker))


def _cmd_run_workers(args: argparse.Namespace, settings: Settings) -> int:
    """The supervisor of `run --workers N`: services once, then N worker processes (smsengine/workers.py)."""
    if args.workers < 1:
        raise SettingsError("--workers must be at least 1")
    if args.demo:
        raise SettingsError("--demo runs in one process: drop --workers (or --demo)")
    if settings.smpp.port == 0 or settings.http.port == 0:
        raise SettingsError(
            "--workers needs fixed ports (smpp.port and http.port not 0): the workers share them"
        )
    from smsengine.workers import supervise

    with provide_services(settings.database.url, settings.redis.url, settings.data_path) as urls:
        env = dict(os.environ, SMSENGINE_DATABASE_URL=urls.database_url, SMSENGINE_REDIS_URL=urls.redis_url)
        command = [sys.executable, "-m", "smsengine.cli", "--config", args.config]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        smpp, http = settings.smpp, settings.http
        banner = (
            f"smsengine running: {args.workers} workers, SMPP on {smpp.host}:{smpp.port},"
            f" HTTP on http://{http.host}:{http.port} (Ctrl-C to stop)"
        )
        return asyncio.run(supervise([*command, "run"], args.workers, env, banner))


# ------------------------------------------------------------------------------------------- operator


def _with_pool(
    work: Callable[[asyncpg.Pool, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        settings = _settings(args)
        configure_logging("warning", settings.log.format)

        async def main(url: str) -> int:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            assert pool is not None
            try:
                async with pool.acquire() as conn:
                    await apply_migrations(conn)
                return await work(pool, args)
            finally:
                await pool.close()

        with provide_services(
            settings.database.url, settings.redis.url, settings.data_path, redis=False
        ) as urls:
            return asyncio.run(main(urls.database_url))

    return command


async def _accounts_create(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from billing.money import parse_amount
    from engine.admin.provision import create_account
    from engine.outbox.url_guard import TargetPolicy

    targets = TargetPolicy.parse(_settings(args).security.allowed_private_targets)
    account_id = await create_account(
        pool, args.name, currency=args.currency, credit_limit=parse_amount(args.credit_limit),
        callback_url=args.callback_url, targets=targets,
    )  # fmt: skip
    print(f"account {args.name} created with id {account_id}")
    return 0


async def _accounts_topup(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from billing.money import format_amount, parse_amount
    from engine.admin.provision import account_id_of, add_funds

    account_id = await account_id_of(pool, args.account)
    available = await add_funds(pool, account_id, parse_amount(args.amount), args.key)
    print(f"account {args.account}: available {format_amount(available, 6)}")
    return 0


async def _accounts_list(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from billing.money import format_amount

    rows = await pool.fetch(
        """SELECT a.id, a.name, a.currency, l.balance AS available
           FROM accounts a JOIN billing_customers c ON c.account_id = a.id
           JOIN billing_ledger_accounts l ON l.id = c.available_id ORDER BY a.id"""
    )
    for r in rows:
        print(f"{r['id']:>6}  {r['name']:<24} {format_amount(r['available'], 6):>16} {r['currency']}")
    return 0


async def _smpp_set(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of, set_smpp_credentials

    account_id = await account_id_of(pool, args.account)
    await set_smpp_credentials(
        pool, account_id, args.system_id, args.password, allowed_ips=args.allow_ip or (),
        max_binds=args.max_binds, throughput=args.throughput,
    )  # fmt: skip
    print(f"SMPP system_id {args.system_id} set for account {args.account}")
    return 0


async def _carriers_add(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import add_carrier
    from engine.carriers.link import CarrierConnection

    await add_carrier(
        pool,
        CarrierConnection(
            carrier=args.name, host=args.host, port=args.port, system_id=args.system_id,
            password=args.password, system_type=args.system_type, binds=args.binds, window_size=args.window,
            throughput=args.throughput, long_message=args.long_message, resp_id_format=args.resp_id_format,
            dlr_id_format=args.dlr_id_format,
        ),
        currency=args.currency,
    )  # fmt: skip
    print(f"carrier {args.name} -> {args.host}:{args.port} ({args.binds} binds); restart the engine to bind")
    return 0


async def _rates(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from routing.model import PriceListOwner
    from routing.operator import export_price_list, export_rate_card, import_price_list, import_rate_card
    from routing.storage import PgRoutingStore

    store = PgRoutingStore(pool)
    if args.kind == "rates":
        if args.action == "import":
            print(await import_rate_card(store, args.owner, args.file, replace=args.replace))
        else:
            print(f"{await export_rate_card(store, args.owner, args.file)} rows written to {args.file}")
        return 0
    from engine.admin.provision import account_id_of

    account_id = await account_id_of(pool, args.owner)
    owner = PriceListOwner(account_id=account_id)
    if args.action == "import":
        # the account's first price list is created in the account's own currency
        currency = await pool.fetchval("SELECT currency FROM accounts WHERE id = $1", account_id)
        print(await import_price_list(store, owner, args.file, currency=currency, replace=args.replace))
    else:
        print(f"{await export_price_list(store, owner, args.file)} rows written to {args.file}")
    return 0


async def _numbers_add(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of, add_mo_number

    await add_mo_number(pool, await account_id_of(pool, args.account), args.number)
    print(f"MO to {args.number} goes to account {args.account}")
    return 0


async def _routes_explain(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from routing.operator import explain
    from routing.storage import PgRoutingStore

    account_id = None
    if args.account:
        from engine.admin.provision import account_id_of

        account_id = await account_id_of(pool, args.account)
    print(await explain(PgRoutingStore(pool), args.number, account_id=account_id))
    return 0


async def _users_add(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of
    from engine.identity.service import invite_user

    account_id = await account_id_of(pool, args.account)
    user = await invite_user(pool, _settings(args), account_id, args.email, name=args.name, role=args.role)
    print(
        f"user {user.email} ({user.role}) added to {user.account_name}; a link to choose a password is mailed"
    )
    return 0


async def _apikeys_create(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of, create_api_key

    key, secret = await create_api_key(
        pool,
        await account_id_of(pool, args.account),
        live=not args.test,
        permissions=args.permission or ("*",),
    )
    print(f"api_key    {key}\napi_secret {secret}   (shown once: store it now)")
    return 0


async def _xquik_key(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of
    from engine.xquik.keys import KeyLimit, create_key

    try:
        key = await create_key(pool, await account_id_of(pool, args.account), args.name)
    except KeyLimit as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"id       {key.id}\nfull_key {key.full_key}   (shown once: store it now; send it as x-api-key)")
    return 0


async def _xquik_grant(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of
    from engine.xquik.credits import grant

    if args.credits <= 0:
        print("error: CREDITS must be positive", file=sys.stderr)
        return 1
    info = await grant(pool, await account_id_of(pool, args.account), args.credits, args.key)
    print(f"account {args.account}: {info.balance} credits")
    return 0


async def _accounts_trust(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of

    account_id = await account_id_of(pool, args.account)
    await pool.execute("UPDATE accounts SET campaigns_trusted = $2 WHERE id = $1", account_id, not args.off)
    print(f"account {args.account}: campaigns {'need approval' if args.off else 'skip approval'}")
    return 0


async def _campaigns_review(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.campaigns.actions import ActionRefused, CampaignNotFound, apply_action

    async with pool.acquire() as conn, conn.transaction():
        try:
            state = await apply_action(
                conn,
                args.campaign,
                args.action,
                reviewer="operator",
                reason=getattr(args, "reason", "") or "",
            )
        except CampaignNotFound:
            raise LookupError(f"no campaign {args.campaign}") from None
        except ActionRefused as exc:
            raise ValueError(str(exc)) from None
    # The engine's runner sees the new state at its next poll (half a second).
    print(f"campaign {args.campaign}: {state}")
    return 0


async def _senders(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of
    from engine.senders.registry import require_approved_senders, review_sender

    account_id = await account_id_of(pool, args.account)
    if args.action == "require":
        await require_approved_senders(pool, account_id, not args.off)
        print(f"account {args.account}: {'any sender' if args.off else 'approved sender IDs only'}")
        return 0
    row = await review_sender(
        pool, account_id, args.sender, approve=args.action == "approve", reason=args.reason or ""
    )
    print(f"sender ID {row['sender']} of account {args.account}: {row['status']}")
    return 0


async def _whatsapp_connect(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.admin.provision import account_id_of
    from engine.whatsapp.service import connect_number

    account_id = await account_id_of(pool, args.account)
    number = args.number.lstrip("+")
    if not number.isdigit() or not args.phone_number_id.isdigit() or not args.waba_id.isdigit():
        raise ValueError("--waba-id, --phone-number-id and --number are Meta's digits")
    await connect_number(
        pool, account_id, waba_id=args.waba_id, phone_number_id=args.phone_number_id,
        display_phone_number=number, verified_name=args.name,
    )  # fmt: skip
    print(f"WhatsApp number +{number} ({args.phone_number_id}) connected to account {args.account}")
    return 0


async def _ledger_check(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from billing.check import format_report
    from engine.admin.ledger import check_engine_ledger

    async with pool.acquire() as conn:
        report = await check_engine_ledger(conn)
    print(format_report(report))
    return 0 if report.ok else 1


async def _operators_create(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from http_api.dashboard.operators import create_operator

    password = args.password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    operator_id, password = await create_operator(pool, args.name, password)
    print(f"operator {args.name} created (id {operator_id})")
    if not (args.password or args.password_stdin):
        print(f"password   {password}   (shown once: the dashboard is at /dashboard)")
    return 0


async def _binds_log(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    from engine.customers.bind_audit import recent_binds

    rows = await recent_binds(
        pool, peer=args.peer, system_id=args.system_id, failed_only=args.failed, limit=args.limit
    )
    for r in rows:
        verdict = "ok    " if r.ok else f"0x{r.command_status:04X}"
        when = f"{r.at:%Y-%m-%d %H:%M:%S}"
        print(f"{when}  {verdict}  {r.peer_ip:<39} {r.system_id:<16} {r.bind_type:<11} {r.reason}")
    return 0


# ------------------------------------------------------------------------------------------- parser


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """--config and --data-dir, for the top level (with defaults) and for every subcommand (without:
    argparse.SUPPRESS, so a subcommand never overwrites what was given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    config_default: Any = "config.toml" if defaults else argparse.SUPPRESS
    data_dir_default: Any = None if defaults else argparse.SUPPRESS
    common.add_argument("--config", default=config_default, help="settings file (default: config.toml)")
    common.add_argument(
        "--data-dir", default=data_dir_default, help="directory for embedded servers and local state"
    )
    return common


class _Subcommands:
    """add_parser with the common options on every (sub)command, so they are accepted anywhere."""

    def __init__(self, action: Any) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._action.add_parser(
            name, parents=[_common_options(defaults=False)], **kwargs
        )
        return parser

    def nested(self, name: str, **kwargs: Any) -> _Subcommands:
        return _Subcommands(self.add_parser(name, **kwargs).add_subparsers(dest="action", required=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsengine", description="smsengine: carrier-grade SMS engine", parents=[_common_options(True)]
    )
    sub = _Subcommands(parser.add_subparsers(dest="command", required=True))

    run = sub.add_parser("run", help="start the engine")
    run.add_argument("--demo", action="store_true", help="also start a simulated carrier and a demo account")
    run.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="run N engine nodes (processes) sharing the SMPP and HTTP ports, restarted when they die",
    )  # fmt: skip
    run.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)  # set by --workers
    run.add_argument("--supervisor-pid", type=int, default=0, help=argparse.SUPPRESS)  # set by --workers
    run.set_defaults(func=_cmd_run)

    add_simulator_parser(sub)
    add_social_simulator_parsers(sub)

    accounts = sub.nested("accounts", help="customer accounts")
    p = accounts.add_parser("create", help="create an account")
    p.add_argument("name")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--credit-limit", default="0", help="in units (e.g. 50.00); 0: prepaid, never below zero")
    p.add_argument("--callback-url", default="", help="HTTP URL receipts and MO are POSTed to")
    p.set_defaults(func=_with_pool(_accounts_create))
    p = accounts.add_parser("topup", help="add funds")
    p.add_argument("account")
    p.add_argument("amount", help="in units, e.g. 25.00")
    p.add_argument("--key", help="idempotency key: the same key never tops up twice")
    p.set_defaults(func=_with_pool(_accounts_topup))
    p = accounts.add_parser("list", help="accounts and balances")
    p.set_defaults(func=_with_pool(_accounts_list))

    smpp = sub.nested("smpp", help="SMPP credentials")
    p = smpp.add_parser("set", help="create or change an account's SMPP credentials")
    p.add_argument("account")
    p.add_argument("system_id")
    p.add_argument("password", help="at most 8 characters (SMPP 3.4)")
    p.add_argument("--allow-ip", action="append", help="CIDR allowed to bind (repeatable); default: any")
    p.add_argument("--max-binds", type=int, default=4)
    p.add_argument("--throughput", type=int, default=100, help="submit_sm per second per bind")
    p.set_defaults(func=_with_pool(_smpp_set))

    carriers = sub.nested("carriers", help="upstream carriers")
    p = carriers.add_parser("add", help="add or change a carrier and how to bind to it")
    p.add_argument("name")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--system-id", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--system-type", default="")
    p.add_argument("--binds", type=int, default=1)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--throughput", type=int, default=1000, help="segments per second over all binds")
    p.add_argument("--long-message", choices=["udh8", "udh16", "sar", "payload"], default="udh8")
    p.add_argument("--resp-id-format", choices=["text", "hex", "dec"], default="text")
    p.add_argument("--dlr-id-format", choices=["text", "hex", "dec"], default="text")
    p.add_argument("--currency", default="EUR")
    p.set_defaults(func=_with_pool(_carriers_add))

    for kind, owner_help in (("rates", "carrier"), ("prices", "account")):
        actions = sub.nested(kind, help=f"{kind} CSV (prefix,cost,currency,effective_from)")
        for action in ("import", "export"):
            p = actions.add_parser(action)
            p.add_argument("owner", help=owner_help)
            p.add_argument("file")
            if action == "import":
                p.add_argument("--replace", action="store_true", help="replace the whole card")
            p.set_defaults(func=_with_pool(_rates), kind=kind)

    numbers = sub.nested("numbers", help="numbers for MO")
    p = numbers.add_parser("add")
    p.add_argument("account")
    p.add_argument("number")
    p.set_defaults(func=_with_pool(_numbers_add))

    routes = sub.nested("routes", help="routing")
    p = routes.add_parser("explain", help="which carriers a number would go to, and why")
    p.add_argument("number")
    p.add_argument("--account")
    p.set_defaults(func=_with_pool(_routes_explain))

    users = sub.nested("users", help="people who sign in")
    p = users.add_parser("add", help="add a user to an account; they are mailed a link to set a password")
    p.add_argument("account")
    p.add_argument("email")
    p.add_argument("--role", choices=["owner", "admin", "member"], default="member")
    p.add_argument("--name", default="")
    p.set_defaults(func=_with_pool(_users_add))

    apikeys = sub.nested("apikeys", help="HTTP API keys")
    p = apikeys.add_parser("create")
    p.add_argument("account")
    p.add_argument(
        "--test", action="store_true", help="a sandbox key: never reaches a carrier, never charges"
    )
    p.add_argument(
        "--permission", action="append",
        help="repeatable; default *. Operator-only ones: billing.write, campaigns.approve (an account admin)",
    )  # fmt: skip
    p.set_defaults(func=_with_pool(_apikeys_create))

    p = accounts.add_parser("trust", help="let an account's campaigns skip approval")
    p.add_argument("account")
    p.add_argument("--off", action="store_true", help="its campaigns need approval again")
    p.set_defaults(func=_with_pool(_accounts_trust))

    campaigns = sub.nested("campaigns", help="campaign approval")
    for action in ("approve", "reject"):
        p = campaigns.add_parser(action, help=f"{action} a campaign pending approval")
        p.add_argument("campaign", type=int)
        if action == "reject":
            p.add_argument("--reason", default="rejected by the operator")
        p.set_defaults(func=_with_pool(_campaigns_review))

    senders = sub.nested("senders", help="sender IDs")
    for action in ("approve", "reject"):
        p = senders.add_parser(action, help=f"{action} an account's sender ID (requested or not)")
        p.add_argument("account")
        p.add_argument("sender")
        p.add_argument("--reason", default="")
        p.set_defaults(func=_with_pool(_senders))
    p = senders.add_parser("require", help="sends of the account must use an approved sender ID")
    p.add_argument("account")
    p.add_argument("--off", action="store_true", help="any well-formed sender again")
    p.set_defaults(func=_with_pool(_senders))

    whatsapp = sub.nested("whatsapp", help="WhatsApp Business numbers")
    p = whatsapp.add_parser("connect", help="connect a WhatsApp Business number (Meta's ids) to an account")
    p.add_argument("account")
    p.add_argument("--waba-id", required=True, help="the WhatsApp Business Account id")
    p.add_argument("--phone-number-id", required=True, help="Meta's id of the business phone number")
    p.add_argument("--number", required=True, help="the business phone number, E.164 digits")
    p.add_argument("--name", default="", help="its verified display name")
    p.set_defaults(func=_with_pool(_whatsapp_connect))

    operators = sub.nested("operators", help="staff who log into the dashboard")
    p = operators.add_parser("create", help="create an operator (a random password unless one is given)")
    p.add_argument("name")
    p.add_argument("--password", help="at least 10 characters (visible in the shell history: prefer stdin)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_with_pool(_operators_create))

    binds = sub.nested("binds", help="customer SMPP binds")
    p = binds.add_parser("log", help="the audit trail of bind attempts, newest first")
    p.add_argument("--peer", help="only binds from this address")
    p.add_argument("--system-id", help="only binds with this system_id")
    p.add_argument("--failed", action="store_true", help="only refused binds")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_with_pool(_binds_log))

    xquik = sub.nested("xquik", help="the Xquik surface (seed 002): keys and credits")
    p = xquik.add_parser("key", help="create an xq_ API key for an account (shown once)")
    p.add_argument("account")
    p.add_argument("--name", default="Default")
    p.set_defaults(func=_with_pool(_xquik_key))
    p = xquik.add_parser("grant", help="grant Xquik credits to an account, once per --key")
    p.add_argument("account")
    p.add_argument("credits", type=int)
    p.add_argument("--key", required=True, help="idempotency key: the same key never grants twice")
    p.set_defaults(func=_with_pool(_xquik_grant))

    ledger = sub.nested("ledger", help="the money")
    p = ledger.add_parser("check", help="reconcile balances, postings and reservations; non-zero on mismatch")
    p.set_defaults(func=_with_pool(_ledger_check))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. Every failure an operator can cause is one line on stderr and a non-zero exit."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"smsengine: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"smsengine: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """What went wrong, for an operator: the message of the errors we raise on purpose, the kind and
    message of anything else (a database refusal, a missing file), always on one line."""
    from routing.model import RoutingError

    if isinstance(exc, LookupError | ValueError | RoutingError) and str(exc):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, asyncpg.PostgresError):
        detail = getattr(exc, "detail", None)
        text = f"the database refused it: {exc}" + (f" ({detail})" if detail else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
