"""Files in a local directory: the default, next to the SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from chatdesk.storage.base import StoredFileMissing, check_key

__all__ = ["LocalStore"]


class LocalStore:
    """Each key is a file under ``root`` (its ``/`` are directories). A file is written
    to a temporary name in its directory, flushed to disk and renamed into place, so a
    reader sees the whole file or none, even after a crash."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StoredFileMissing(key) from exc

    async def delete(self, keys: list[str]) -> None:
        paths = [self._path(key) for key in keys]
        await asyncio.to_thread(self._delete, paths)

    @staticmethod
    def _delete(paths: list[Path]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()

    async def keys(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._keys, prefix)

    def _keys(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".part-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    async def aclose(self) -> None:
        return None
