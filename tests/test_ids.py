"""Ids and random bytes: ordered, unique, and never repeated across a fork."""

from __future__ import annotations

import os
import random

from chatdesk.ids import encode_id, new_id, random_bytes


def _reference(value: int) -> str:
    """The encoding spelled out: 5 bits at a time, most significant first."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def test_encoding_matches_the_reference_so_stored_ids_keep_their_order() -> None:
    rng = random.Random(7)
    values = [0, 1, 31, 32, (1 << 128) - 1, 1 << 127, *(rng.getrandbits(128) for _ in range(2000))]
    for value in values:
        assert encode_id(value) == _reference(value)


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
