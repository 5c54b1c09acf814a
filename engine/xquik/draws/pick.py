"""The draw's pick, reproducible by anyone from the stored seed and the valid entries.

    ranked = rank(seed, [entry tweet ids])      # winners are ranked[:winnerCount], backups the next

Rule: every valid entry's score is SHA-256 of the UTF-8 text "<seed>:<entry tweet id>" (seed: the
draw's 64 hex digits, as GET /draws/{id} shows it); entries are ordered by score as lowercase hex,
ascending, ties (impossible in practice) by tweet id. The first `winnerCount` are the winners
(positions 1..winnerCount), the next `backupCount` the backups (positions after them, isBackup true).
To check a draw: export its entries (GET /draws/{id}/export?type=entries&format=csv), keep the rows
whose `valid` is true, and apply the rule, e.g. in Python:

    sorted(ids, key=lambda t: (hashlib.sha256(f"{seed}:{t}".encode()).hexdigest(), t))

This module must never do I/O.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable


def new_seed() -> str:
    return secrets.token_hex(32)


def score(seed: str, tweet_id: str) -> str:
    return hashlib.sha256(f"{seed}:{tweet_id}".encode()).hexdigest()


def rank(seed: str, tweet_ids: Iterable[str]) -> list[str]:
    return sorted(tweet_ids, key=lambda t: (score(seed, t), t))
