"""Static files under a content-hashed prefix (ADR 0010).

Every file under ``static/`` is served at ``/static/<version>/<path>``, where
``<version>`` is a hash of the whole tree, computed once per process. A page
names only its entry module with that prefix; the ES modules it imports with
relative URLs (``./api.js``) resolve under the same prefix, so every module the
frame and the console load carries the hash without a build step or an import
map. Those URLs never change meaning, so they are cached for a year,
``immutable``. The unversioned ``/static/<path>`` (an older page, a hand-written
link, a vendored bundle that names its own files) still works, cached briefly.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from chatdesk.web.bundle import BUNDLES, bundle, bundle_name

__all__ = ["IMMUTABLE", "SHORT_LIVED", "STATIC_DIR", "VersionedStatic", "static_prefix"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# Short enough that a deploy shows within minutes, long enough to spare a page's reloads.
SHORT_LIVED = "public, max-age=300"
_VERSION_LENGTH = 12
_VERSION = re.compile(rf"^[0-9a-f]{{{_VERSION_LENGTH}}}$")


@cache
def static_version(directory: Path = STATIC_DIR) -> str:
    """A hash of every file's path and bytes: any change anywhere gives a new prefix."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:_VERSION_LENGTH]


def static_prefix() -> str:
    """What templates put before a static path: ``/static/<version>``."""
    return "/static/" + static_version()


class VersionedStatic(StaticFiles):
    """``StaticFiles`` that understands the version segment and sets ``Cache-Control``.

    The current version is cached as immutable. Another hash-shaped first segment
    (a page rendered by the previous deploy) is served the current file, briefly
    cached: its bytes may not be what that version had.
    """

    def __init__(self, *, directory: Path = STATIC_DIR) -> None:
        super().__init__(directory=directory)
        self.directory_path = directory
        self.version = static_version(directory)
        # Joined first-open modules (web/bundle.py), by the path they are served at.
        self.bundles = {bundle_name(entry): entry for entry in BUNDLES}

    async def get_response(self, path: str, scope: Scope) -> Response:
        first, _, rest = path.partition("/")
        cache_control = SHORT_LIVED
        if first == self.version:
            path, cache_control = rest, IMMUTABLE
        elif _VERSION.match(first) and rest:
            path = rest
        entry = self.bundles.get(path)
        if entry is not None and scope["method"] in ("GET", "HEAD"):
            return Response(
                bundle(self.directory_path, entry),
                media_type="text/javascript; charset=utf-8",
                headers={"Cache-Control": cache_control},
            )
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = cache_control
        if cache_control == IMMUTABLE:
            # Never revalidated: no validators (ADR 0028, each costs every response bytes).
            for name in ("ETag", "Last-Modified", "Accept-Ranges"):
                if name in response.headers:
                    del response.headers[name]
        return response
