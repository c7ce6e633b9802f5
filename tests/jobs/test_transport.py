"""The delivery client against real servers on loopback: keep-alive, a receiver that
closed an idle connection, answers of every framing, TLS verified for the URL's name
while connecting to the address checked, and answers that are not HTTP."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chatdesk.jobs.transport import ProtocolError, WebhookClient
from tests.event_loops import run_coroutine
from tests.jobs.receiver import Receiver

T = TypeVar("T")


def run(make: Callable[[WebhookClient], Awaitable[T]], client: WebhookClient) -> T:
    async def go() -> T:
        try:
            return await make(client)
        finally:
            await client.aclose()

    return run_coroutine(go)


def _client(**kwargs: Any) -> WebhookClient:
    return WebhookClient(allow_private=True, timeout=3.0, max_connections=4, **kwargs)


def test_posts_reuse_one_connection_and_survive_one_the_receiver_closed(
    receiver: Receiver,
) -> None:
    async def posts(client: WebhookClient) -> list[int]:
        answers = [await client.post(f"{receiver.url}/a", [], b"{}") for _ in range(5)]
        # The receiver ends its side of the idle connection (as its idle timeout would).
        for connection in client._idle[("http", "127.0.0.1", receiver.port)]:
            assert connection.transport is not None
            connection.transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
        await asyncio.sleep(0.1)
        answers.append(await client.post(f"{receiver.url}/b", [], b"{}"))
        return answers

    assert run(posts, _client()) == [200] * 6
    assert len(receiver.receipts) == 6
    assert len({r.peer for r in receiver.receipts[:5]}) == 1  # one connection for five
    assert receiver.receipts[5].peer != receiver.receipts[0].peer  # a new one after


class RawServer:
    """Answers every connection with the bytes given, then closes (or not)."""

    def __init__(self, answer: bytes, *, close: bool = True) -> None:
        self.answer, self.close = answer, close
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(65536))
                conn.sendall(self.answer)
                if not self.close:
                    conn.recv(1)

    def stop(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200),
        (b"HTTP/1.0 202 Accepted\r\n\r\nread until the connection closes", 202),
        (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n", 503),
        # The status is what counts: a body cut short does not undo it.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 200),
    ],
)
def test_answers_of_every_framing(answer: bytes, status: int) -> None:
    server = RawServer(answer)
    try:
        got = run(lambda c: c.post(f"http://127.0.0.1:{server.port}/x?y=1", [], b"{}"), _client())
    finally:
        server.stop()
    assert got == status
    request = server.requests[0]
    assert request.startswith(b"POST /x?y=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"Content-Length: 2\r\n" in request and request.endswith(b"\r\n\r\n{}")


@pytest.mark.parametrize(
    "answer", [b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 abc\r\n\r\n", b"", b"HTTP/1.1 200 O"]
)
def test_what_is_not_an_http_answer_is_a_protocol_error(answer: bytes) -> None:
    server = RawServer(answer)
    try:
        with pytest.raises(ProtocolError):
            run(lambda c: c.post(f"http://127.0.0.1:{server.port}/", [], b"{}"), _client())
    finally:
        server.stop()


def test_a_path_that_is_not_ascii_is_escaped(receiver: Receiver) -> None:
    run(lambda c: c.post(f"{receiver.url}/caf\u00e9/\U0001f600?q=\u00fc", [], b""), _client())
    assert receiver.receipts[0].path == "/caf%C3%A9/%F0%9F%98%80?q=%C3%BC"


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=hooks.test", "-addext",
         "subjectAltName=DNS:hooks.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    yield cert, key


def test_tls_is_verified_for_the_urls_name_on_the_address_checked(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    receiver = Receiver().start(tls=server_side)
    trusting = ssl.create_default_context(cafile=str(cert))
    resolved: list[str] = []

    async def here(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    try:
        url = f"https://hooks.test:{receiver.port}/in"
        assert run(lambda c: c.post(url, [], b"{}"), _client(resolver=here, tls=trusting)) == 200
        assert receiver.receipts[0].headers["host"] == f"hooks.test:{receiver.port}"
        # The same address under another name: its certificate does not match.
        other = f"https://other.test:{receiver.port}/in"
        with pytest.raises(ssl.SSLCertVerificationError):
            run(lambda c: c.post(other, [], b"{}"), _client(resolver=here, tls=trusting))
        # The system's CAs do not know this certificate at all.
        with pytest.raises(ssl.SSLCertVerificationError):
            run(lambda c: c.post(url, [], b"{}"), _client(resolver=here))
    finally:
        receiver.stop()
    assert resolved == ["hooks.test", "other.test", "hooks.test"]
    assert len(receiver.receipts) == 1
