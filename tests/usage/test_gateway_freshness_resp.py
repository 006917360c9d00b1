"""The gateway's own Redis reader for the configuration version (usage/gateway/freshness.py RedisVersion)
and the limits' scripts (limits_redis.py Scripts), over usage/gateway/resp.py, against a small RESP server
that answers one byte at a time: AUTH and SELECT first, pipelined GETs, error replies, array replies, a
script sent whole when the server lacks it, and a reconnection after the server drops the connection."""

from __future__ import annotations

import asyncio

import pytest

from usage.gateway.freshness import RedisVersion
from usage.gateway.limits_redis import Scripts
from usage.gateway.resp import RedisError


class FakeRedis:
    def __init__(self, password: str = "s3cret") -> None:
        self.password = password
        self.values: dict[bytes, bytes] = {}
        self.commands: list[list[str]] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                count = int((await reader.readline())[1:])
                words = []
                for _ in range(count):
                    size = int((await reader.readline())[1:])
                    words.append((await reader.readexactly(size + 2))[:-2])
                self.commands.append([w.decode() for w in words])
                for byte in self.reply(words):  # one byte at a time: replies split anywhere
                    writer.write(bytes([byte]))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            writer.close()

    def reply(self, words: list[bytes]) -> bytes:
        name = words[0].upper()
        if name == b"AUTH":
            return b"+OK\r\n" if words[-1].decode() == self.password else b"-WRONGPASS invalid password\r\n"
        if name == b"SELECT":
            return b"+OK\r\n"
        if name == b"EVALSHA":
            return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        if name == b"EVAL":  # an array of an integer, a bulk string, a nil and a nested array
            return b"*4\r\n:-5\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n:1\r\n+OK\r\n"
        value = self.values.get(words[1])
        return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


def run(scenario):
    return asyncio.run(scenario())


def test_it_authenticates_selects_then_reads_pipelined_gets():
    async def scenario():
        fake = FakeRedis()
        port = await fake.start()
        version = RedisVersion(f"redis://:s3cret@127.0.0.1:{port}/6", "tl:gw:", watch=False)
        first = await version.read()
        fake.values[b"tl:gw:version"] = b"12\r\n34"  # a value holding CRLF, read by its length
        many = await asyncio.gather(*(version.read() for _ in range(10)))
        await version.close()
        return first, many, fake

    first, many, fake = run(scenario)

    assert first is None
    assert many == [b"12\r\n34"] * 10
    assert fake.commands[:3] == [["AUTH", "s3cret"], ["SELECT", "6"], ["GET", "tl:gw:version"]]
    assert (len(fake.commands), fake.connections) == (13, 1)


def test_an_error_reply_is_raised():
    async def scenario():
        fake = FakeRedis(password="other")
        port = await fake.start()
        version = RedisVersion(f"redis://default:s3cret@127.0.0.1:{port}/0", "tl:gw:", watch=False)
        with pytest.raises(RedisError, match="WRONGPASS invalid password"):
            await version.read()
        return fake

    assert run(scenario).commands == [["AUTH", "default", "s3cret"]]


def test_a_dropped_connection_is_opened_again_on_the_next_read():
    async def scenario():
        fake = FakeRedis()
        port = await fake.start()
        fake.values[b"p:version"] = b"7"
        version = RedisVersion(f"redis://127.0.0.1:{port}", "p:", watch=False)
        before = await version.read()
        fake.writers[0].close()
        await asyncio.sleep(0.05)
        after = await version.read()
        await version.close()
        return before, after, fake

    before, after, fake = run(scenario)

    assert (before, after, fake.connections) == (b"7", b"7", 2)
    assert fake.commands == [["GET", "p:version"], ["GET", "p:version"]]  # db 0 and no password: no set-up


def test_a_script_the_server_lacks_is_sent_whole_and_its_array_reply_read():
    async def scenario():
        fake = FakeRedis()
        port = await fake.start()
        scripts = Scripts(f"redis://:s3cret@127.0.0.1:{port}/3")
        reply = await scripts.run(b"return 1", b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db", [7, "x"])
        await scripts.close()
        return reply, fake

    reply, fake = run(scenario)

    assert reply == [-5, b"a\r\nb", None, [1, b"OK"]]
    assert fake.commands == [
        ["AUTH", "s3cret"],
        ["SELECT", "3"],
        ["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0", "7", "x"],
        ["EVAL", "return 1", "0", "7", "x"],
    ]
