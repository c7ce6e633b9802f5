"""Ids and random bytes: ordered, unique, and never repeated across a fork."""

from __future__ import annotations

import os

from chatdesk.ids import new_id, random_bytes


def test_ids_are_strictly_increasing_and_unique() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_a_forked_child_does_not_reuse_the_parents_random_bytes() -> None:
    random_bytes(1)  # the pool now holds bytes the child must not hand out again
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_bytes(16))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 16)
    os.close(read)
    assert child != random_bytes(16)
