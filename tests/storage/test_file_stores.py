"""The file stores' one contract, run against each: a local directory, and S3-compatible
object storage served by a real S3-compatible server the test starts on loopback (moto's
``moto_server``, a process of its own)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chatdesk.storage.base import FileStore, InvalidKey, StoredFileMissing
from chatdesk.storage.local import LocalStore
from chatdesk.storage.s3 import S3Store
from tests.conftest import free_port
from tests.event_loops import run_coroutine
from tests.storage.s3_server import BUCKET


@pytest.fixture
def make_s3(s3_server: str, s3_credentials: None) -> Iterator[Callable[..., S3Store]]:
    bucket = f"{BUCKET}-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    made: list[S3Store] = []

    def make(prefix: str = "") -> S3Store:
        store = S3Store(bucket, prefix=prefix, endpoint_url=s3_server)
        made.append(store)
        return store

    yield make
    for store in made:
        run_coroutine(store.aclose)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "local":
        return LocalStore(tmp_path / "files")
    make: Callable[..., S3Store] = request.getfixturevalue("make_s3")
    return make()


def run(make: Callable[[], Any]) -> Any:
    return run_coroutine(make)


def test_a_file_reads_back_byte_for_byte_and_a_second_put_replaces_it(store: FileStore) -> None:
    data = bytes(range(256)) * 4096 + b"\x00end"  # 1 MiB and a bit, every byte value
    run(lambda: store.put("site1/conv1/att1", data, "application/octet-stream"))
    assert run(lambda: store.get("site1/conv1/att1")) == data
    run(lambda: store.put("site1/conv1/att1", b"second", "text/plain"))
    assert run(lambda: store.get("site1/conv1/att1")) == b"second"


def test_a_missing_file_is_missing_and_deleting_what_is_not_there_is_no_error(
    store: FileStore,
) -> None:
    with pytest.raises(StoredFileMissing):
        run(lambda: store.get("site1/nothing"))
    run(lambda: store.delete(["site1/nothing", "other/nothing"]))
    with pytest.raises(StoredFileMissing):
        run(lambda: store.get("site1/nothing"))


def test_keys_lists_a_prefix_and_delete_removes_exactly_what_it_is_given(
    store: FileStore,
) -> None:
    for key in ("a/one", "a/two.thumb", "b/three", "ab/four"):
        run(lambda key=key: store.put(key, key.encode(), "text/plain"))
    assert run(lambda: store.keys("a/")) == ["a/one", "a/two.thumb"]
    assert run(lambda: store.keys()) == ["a/one", "a/two.thumb", "ab/four", "b/three"]
    run(lambda: store.delete(["a/one", "b/three"]))
    assert run(lambda: store.keys()) == ["a/two.thumb", "ab/four"]
    assert run(lambda: store.get("ab/four")) == b"ab/four"


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../escape", "/absolute", "a//b", "UPPER", "a/./b", "a b", "a\x00b"],
)
def test_a_key_outside_the_pattern_is_refused_before_anything_is_written(
    store: FileStore, key: str
) -> None:
    with pytest.raises(InvalidKey):
        run(lambda: store.put(key, b"x", "text/plain"))
    with pytest.raises(InvalidKey):
        run(lambda: store.get(key))
    with pytest.raises(InvalidKey):
        run(lambda: store.delete([key]))
    assert run(lambda: store.keys()) == []


def test_a_local_file_is_written_whole_and_no_partial_file_is_left(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "files")
    run(lambda: store.put("s/c/a", b"x" * 100_000, "application/octet-stream"))
    left = sorted(p.name for p in (tmp_path / "files" / "s" / "c").iterdir())
    assert left == ["a"]  # the temporary file was renamed into place, none remains
    assert run(lambda: store.keys()) == ["s/c/a"]


def test_processes_share_one_bucket_and_a_prefix_keeps_stores_apart(
    make_s3: Callable[..., S3Store],
) -> None:
    one, other, elsewhere = make_s3("chatdesk/"), make_s3("chatdesk/"), make_s3("staging/")
    run(lambda: one.put("s/c/a", b"shared", "text/plain"))
    assert run(lambda: other.get("s/c/a")) == b"shared"
    assert run(lambda: other.keys()) == ["s/c/a"]
    with pytest.raises(StoredFileMissing):
        run(lambda: elsewhere.get("s/c/a"))
    assert run(lambda: elsewhere.keys()) == []
    run(lambda: other.delete(["s/c/a"]))
    with pytest.raises(StoredFileMissing):
        run(lambda: one.get("s/c/a"))


def test_a_store_that_cannot_reach_its_server_fails_rather_than_hangs(
    s3_credentials: None,
) -> None:
    store = S3Store(BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as failed:
            run(lambda: store.put("s/c/a", b"x", "text/plain"))
    finally:
        run_coroutine(store.aclose)
    assert "connect" in str(failed.value).lower()
    assert time.monotonic() - started < 20
