"""The gateway's upstream HTTP client (usage/gateway/http1.py) against a scripted server on a loopback socket:
what it sends, what it reads, when it reuses a connection, and how each failure is named."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess

import pytest

from usage.gateway import http1
from usage.gateway.http1 import BrokenReply, Client, ConnectError

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer k"}


class Server:
    """Answers each request with the next scripted bytes (a callable gets the writer), counting connections."""

    def __init__(self, *answers, tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0  # connections the client closed (the server read EOF)
        self.tls = tls

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    def url(self, path: str = "/v1/chat") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if callable(answer):
                    await answer(writer)
                else:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed += 1
            writer.close()
        except asyncio.CancelledError:  # the test is over
            writer.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        extra,
        len(body),
        body,
    )


def run(scenario):
    return asyncio.run(scenario())


def test_a_post_sends_exact_bytes_and_reuses_the_connection_for_the_next():
    async def scenario():
        async with Server(ok(), ok(b"[2]", b"X-Generation-Id: gen-1\r\n")) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            first = await client.post(server.url("/v1/chat?beta=true"), b'{"a":1}', HEADERS)
            body = await first.read()
            first.release()
            second = await client.post(server.url(), b"{}", {"Content-Type": "application/json"})
            seen = (second.status, second.headers["x-generation-id"], await second.read())
            second.release()
            client.close()
            return body, seen, server.requests, server.connections

    body, seen, requests, connections = run(scenario)
    assert body == b'{"ok":true}'
    assert seen == (200, "gen-1", b"[2]")
    port = requests[0].split(b"Host: 127.0.0.1:")[1].split(b"\r\n")[0].decode()
    assert requests == [
        b"POST /v1/chat?beta=true HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\n"
        b'Authorization: Bearer k\r\nContent-Length: 7\r\n\r\n{"a":1}' % port.encode(),
        b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}" % port.encode(),
    ]
    assert connections == 1


def test_a_chunked_stream_is_read_piece_by_piece_as_it_arrives():
    async def chunked(writer):
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def scenario():
        async with Server(chunked, ok()) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            reply = await client.post(server.url(), b"{}", HEADERS)
            pieces = []
            while chunk := await reply.readany():
                pieces.append(chunk)
            eof = reply.at_eof()
            reply.release()
            again = await client.post(server.url(), b"{}", HEADERS)  # the same connection, read to its end
            await again.read()
            again.release()
            return reply.headers["content-type"], pieces, eof, server.connections

    assert run(scenario) == ("text/event-stream", [b"data: 1\n\n", b"data: 2\n\n"], True, 1)


def test_a_body_without_length_ends_with_the_connection_which_is_not_reused():
    async def until_close(writer):
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"a":')
        await writer.drain()
        writer.write(b"1}")
        writer.close()

    async def scenario():
        async with Server(until_close, ok()) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            reply = await client.post(server.url(), b"{}", HEADERS)
            body = await reply.read()
            reply.release()
            again = await client.post(server.url(), b"{}", HEADERS)
            await again.read()
            again.release()
            return body, server.connections

    assert run(scenario) == (b'{"a":1}', 2)


def test_a_reply_left_unread_or_closed_closes_its_connection_at_once():
    big = ok(b"x" * 300_000)

    async def scenario():
        async with Server(big, ok(), ok()) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            reply = await client.post(server.url(), b"{}", HEADERS)
            first = await reply.readany()
            reply.release()  # not read to its end: the connection cannot carry another request
            await asyncio.sleep(0.05)
            closed_after_release = server.closed
            second = await client.post(server.url(), b"{}", HEADERS)
            second.close()  # what a client leaving does
            await asyncio.sleep(0.05)
            third = await client.post(server.url(), b"{}", HEADERS)
            body = await third.read()
            third.release()
            return 0 < len(first) < 300_000, closed_after_release, server.closed, server.connections, body

    assert run(scenario) == (True, 1, 2, 3, b'{"ok":true}')


def test_a_large_body_is_read_whole_through_the_paused_socket():
    body = bytes(range(256)) * 8192  # 2 MiB, far over HIGH_WATER

    async def scenario():
        async with Server(ok(body)) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            reply = await client.post(server.url(), b"{}", HEADERS)
            await asyncio.sleep(0.2)  # the server writes it all while nobody reads
            buffered = reply._size
            data = await reply.read()
            reply.release()
            return buffered, data

    buffered, data = run(scenario)
    assert buffered < 2 * http1.HIGH_WATER
    assert data == body


def test_an_informational_reply_is_skipped():
    async def scenario():
        async with Server(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[1]")) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            reply = await client.post(server.url(), b"{}", HEADERS)
            return reply.status, await reply.read()

    assert run(scenario) == (200, b"[1]")


def test_a_silent_upstream_times_out_waiting_for_the_headers_and_mid_body():
    async def silent(writer):
        await asyncio.sleep(3)

    async def stalls(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        await writer.drain()
        await asyncio.sleep(3)

    async def scenario():
        async with Server(silent) as server, Server(stalls) as other:
            client = Client(connect_timeout=5, read_timeout=0.3)
            loop = asyncio.get_running_loop()
            began = loop.time()
            with pytest.raises(TimeoutError, match=r"^nothing came in 0.3 s$"):
                await client.post(server.url(), b"{}", HEADERS)
            waited = loop.time() - began
            reply = await client.post(other.url(), b"{}", HEADERS)
            first = await reply.readany()
            with pytest.raises(TimeoutError, match=r"^nothing came in 0.3 s$"):
                await reply.readany()
            return waited, first

    waited, first = run(scenario)
    assert 0.3 <= waited < 1.5
    assert first == b"12345"


def test_no_server_is_a_connect_error_naming_the_reason():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused

        async def scenario():
            client = Client(connect_timeout=5, read_timeout=5)
            with pytest.raises(ConnectError) as error:
                await client.post(f"http://127.0.0.1:{port}/v1", b"{}", HEADERS)
            return str(error.value)

        assert run(scenario) == "Connection refused"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            "the connection closed before the reply's end",
        ),
        (b"nonsense\r\n\r\n", "not HTTP"),
    ],
)
def test_a_broken_or_garbled_reply_is_a_broken_reply(answer, why):
    async def cut(writer):
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def scenario():
        async with Server(cut) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            try:
                reply = await client.post(server.url(), b"{}", HEADERS)
                await reply.read()
            except BrokenReply as exc:
                return str(exc)

    assert run(scenario).startswith(why)


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    async def scenario():
        async with Server(ok()) as server:
            client = Client(connect_timeout=5, read_timeout=5)
            with pytest.raises(ValueError, match="line break"):
                await client.post(server.url(), b"{}", {"X-Title": "a\r\nX-Injected: 1"})
            return server.connections

    assert run(scenario) == 0


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_https_is_verified_against_the_trusted_certificates(certificate):
    key, cert = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        async with Server(ok(b"[1]"), tls=served) as server:
            client = Client(connect_timeout=5, read_timeout=5, ssl_context=trusting)
            reply = await client.post(server.url(), b"{}", HEADERS)
            body = await reply.read()
            reply.release()
            default = Client(connect_timeout=5, read_timeout=5)  # the system's certificates: not this one
            with pytest.raises(ConnectError) as error:
                await default.post(server.url(), b"{}", HEADERS)
            return body, str(error.value)

    body, why = run(scenario)
    assert body == b"[1]"
    assert why == "TLS: self-signed certificate"
