"""The gateway: a pure-ASGI, OpenRouter-compatible proxy under /api/v1/ (built in the gateway issue)."""

import json


class Gateway:
    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def __call__(self, scope, receive, send) -> None:
        body = json.dumps({"error": {"message": "Not found", "code": 404}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


gateway = Gateway()
