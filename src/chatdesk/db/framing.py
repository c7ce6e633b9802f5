"""How bytes are cut into messages on the socket between the server and its writer process.

A frame is a 4-byte big-endian signed length, then that many bytes; a length
of -1 is followed by an 8-byte length, for frames over 2 GiB. This is the
framing of :class:`multiprocessing.connection.Connection` (a test keeps the
two the same), so either end can be read with it when debugging.

What travels in the frames (all pickled, see :mod:`chatdesk.db.packing`):

- server → child: a list of ``(job id, unit)`` items, where ``unit`` is a packed
  unit of work, or None to withdraw that job (its caller was cancelled); an
  empty frame asks the child to answer everything it was sent and exit;
- child → server: ``(answers, newest event id)`` for one committed batch,
  ``answers`` being ``(job id, packed answer)`` pairs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["STOP", "frame", "frames", "header"]

_SHORT = struct.Struct("!i")
_LONG = struct.Struct("!Q")


def header(size: int) -> bytes:
    """The header of a frame of ``size`` bytes."""
    if size > 0x7FFFFFFF:
        return _SHORT.pack(-1) + _LONG.pack(size)
    return _SHORT.pack(size)


def frame(data: bytes) -> bytes:
    """``data`` as one frame."""
    return header(len(data)) + data


STOP = header(0)


def frames(buffer: bytearray) -> Iterator[bytes]:
    """Take every whole frame off the front of ``buffer``; a partial one stays."""
    while len(buffer) >= 4:
        (size,) = _SHORT.unpack_from(buffer)
        start = 4
        if size == -1:
            if len(buffer) < 12:
                return
            (size,) = _LONG.unpack_from(buffer, 4)
            start = 12
        if len(buffer) < start + size:
            return
        taken = bytes(buffer[start : start + size])
        del buffer[: start + size]
        yield taken
