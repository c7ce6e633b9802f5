"""The file store a server uses, from its settings."""

from __future__ import annotations

from pathlib import Path

from chatdesk.settings import Settings, sqlite_path
from chatdesk.storage.base import FileStore

__all__ = ["files_dir", "open_store"]


def files_dir(settings: Settings) -> Path:
    """``CHATDESK_FILES_DIR``, else ``<database file>.files`` beside a SQLite file, else
    ``./chatdesk-files``."""
    if settings.files_dir:
        return Path(settings.files_dir)
    database = sqlite_path(settings.database_url)
    if database and not database.endswith(":memory:"):
        return Path(database + ".files")
    return Path("chatdesk-files")


def open_store(settings: Settings) -> FileStore:
    if settings.s3_bucket:
        from chatdesk.storage.s3 import S3Store  # only here: boto3 is an extra

        return S3Store(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    from chatdesk.storage.local import LocalStore

    return LocalStore(files_dir(settings))
