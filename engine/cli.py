"""`smsengine` command line: run the engine and operate it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import asyncpg
import structlog

from engine.logging import configure_logging
from engine.schema import apply_migrations
from engine.services import provide_services
from engine.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("smsengine")


def _settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, **overrides)


async def _run(settings: Settings) -> None:
    with provide_services(settings.database.url, settings.redis.url, settings.data_path) as urls:
        conn = await asyncpg.connect(urls.database_url)
        try:
            applied = await apply_migrations(conn)
        finally:
            await conn.close()
        log.info("schema ready", applied=applied)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("engine running", database=urls.database_url, redis=urls.redis_url)
        await stop.wait()
        log.info("engine stopping")


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    configure_logging(settings.log.level, settings.log.format)
    import uvloop

    uvloop.run(_run(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsengine", description=__doc__)
    parser.add_argument("--config", default="config.toml", help="settings file (default: config.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the engine")
    run.add_argument("--data-dir", help="directory for embedded servers and local state")
    run.add_argument("--demo", action="store_true", help="also start a simulated carrier and a demo account")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"smsengine: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
