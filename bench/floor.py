"""The floor: a bare forwarder, as ../shared/bench's "Floors" table measured it (pure ASGI +
aiohttp.ClientSession, no auth, no ledger). It reads the body, forwards it to FLOOR_UPSTREAM and relays the
reply chunk by chunk. gateway_cpu.py --floor runs it beside the gateway, so that each run says what this
machine charges for the forwarding alone (aiohttp is the `bench` extra: pip install -e '.[bench]'):

    FLOOR_UPSTREAM=http://127.0.0.1:18080 uvicorn floor:app --app-dir bench --loop uvloop --http httptools
"""

from __future__ import annotations

import os

import aiohttp

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:18080")
session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {"content-type": "application/json"}
    for name, value in scope["headers"]:
        if name == b"authorization":
            headers["authorization"] = value.decode("latin-1")
    async with session.post(UPSTREAM + scope["path"], data=body, headers=headers) as reply:
        out = [(b"content-type", reply.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        async for chunk in reply.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
