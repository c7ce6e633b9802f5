"""Removing attachments nothing will ever show: uploaded and never sent within a day,
and files whose rows are gone (their conversation, or their site, was deleted).

Run by ``chatdesk purge``. Files go before their rows: a row whose file is gone is a
404 for whoever follows its link, while a file whose row went first would stay behind
for good. Both steps are safe to repeat, and to run on two machines at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from chatdesk.actions.attachments import drop_attachments, storage_keys
from chatdesk.avatars import store_key
from chatdesk.db.runner import Database
from chatdesk.ids import id_millis
from chatdesk.queries.attachments import existing_ids, unsent_before
from chatdesk.storage.base import FileStore

__all__ = ["UNSENT_HOURS", "sweep_files"]

UNSENT_HOURS = 24
_BATCH = 1000
AVATARS = store_key("")  # the prefix of operators' pictures


async def sweep_files(db: Database, store: FileStore, now: datetime) -> tuple[int, int]:
    """(unsent attachments removed, files without a row removed)."""
    cutoff = now - timedelta(hours=UNSENT_HOURS)
    unsent = 0
    while True:
        rows = await asyncio.to_thread(
            db.read_sync, lambda conn: unsent_before(conn, cutoff, _BATCH)
        )
        if not rows:
            break
        await store.delete([key for row in rows for key in storage_keys(row)])
        unsent += await asyncio.to_thread(
            db.write_sync, drop_attachments, [row.id for row in rows], cutoff
        )
        if len(rows) < _BATCH:
            break
    # Keys are <site>/<conversation>/<attachment>[.thumb]: an attachment made before the
    # cut-off whose row is gone. Operators' pictures (avatars/<operator>) are not theirs.
    by_id: dict[str, list[str]] = {}
    oldest_kept = cutoff.timestamp() * 1000
    for key in await store.keys():
        if key.startswith(AVATARS):
            continue
        attachment_id = key.rsplit("/", 1)[-1].removesuffix(".thumb")
        made = id_millis(attachment_id)
        if made is not None and made < oldest_kept:
            by_id.setdefault(attachment_id, []).append(key)
    ids = list(by_id)
    known = await asyncio.to_thread(db.read_sync, lambda conn: existing_ids(conn, ids))
    orphans = [
        key for attachment_id in ids if attachment_id not in known for key in by_id[attachment_id]
    ]
    for start in range(0, len(orphans), _BATCH):
        await store.delete(orphans[start : start + _BATCH])
    return unsent, len(orphans)
