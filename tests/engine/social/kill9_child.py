"""The engine process of tests/engine/social/test_kill9_social.py: `submit N` accepts N posts and N DMs
(one line "accepted <id>" each, after its commit) and keeps running; `idle` only runs (recovery)."""

from __future__ import annotations

import asyncio
import os
import sys

from engine.app import Engine
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.social.actions import Action


async def main(mode: str, count: int) -> None:
    settings = load_settings(None, env=os.environ)
    urls = ServiceUrls(os.environ["SMSENGINE_DATABASE_URL"], os.environ["SMSENGINE_REDIS_URL"])
    account, social, peer = (int(os.environ[k]) for k in ("KILL9_ACCOUNT", "KILL9_SOCIAL", "KILL9_PEER"))
    async with Engine.start(settings, urls) as engine:
        assert engine.social is not None
        print("smsengine running", flush=True)
        if mode == "submit":
            for n in range(count):
                post = await engine.social.jobs.submit(
                    account, social, Action.CREATE_POST, {"text": f"post {n}"}
                )
                dm = await engine.social.jobs.submit(
                    account, social, Action.SEND_DM, {"recipient_id": str(peer), "text": f"dm {n}"}
                )
                print(f"accepted {post.job_id} {dm.job_id}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
