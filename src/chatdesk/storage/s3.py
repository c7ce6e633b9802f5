"""Files in S3-compatible object storage (AWS S3, MinIO, Ceph, R2, …), through boto3.

Several processes share one bucket. boto3 is imported only when this store is used (a
server on local files never loads it), and its blocking calls run on a thread of their
own. Credentials come from boto3's usual places (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chatdesk.storage.base import StoredFileMissing, check_key

__all__ = ["S3Store"]

_DELETE_BATCH = 1000  # the most DeleteObjects takes at once


class S3Store:
    """Each key is an object ``prefix + key`` in ``bucket``."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        threads: int = 4,
    ) -> None:
        import boto3  # only here: see the module's docstring
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=threads,
            ),
        )
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="s3")

    async def _run(self, method: str, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        call = getattr(self._client, method)
        return await loop.run_in_executor(self._threads, lambda: call(**kwargs))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._run(
            "put_object",
            Bucket=self.bucket,
            Key=self.prefix + check_key(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = await self._run(
                "get_object", Bucket=self.bucket, Key=self.prefix + check_key(key)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise StoredFileMissing(key) from exc
            raise
        body = answer["Body"]
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, body.read)
        finally:
            body.close()

    async def delete(self, keys: list[str]) -> None:
        names = [self.prefix + check_key(key) for key in keys]
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            await self._run(
                "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
            )

    async def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._run("list_objects_v2", **kwargs)
            found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(found)
            token = page["NextContinuationToken"]

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._client.close()
