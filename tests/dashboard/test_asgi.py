"""dashboard.asgi routes /api/v1/ to the gateway and runs its start-up and shut-down in the lifespan."""

import asyncio

from dashboard.asgi import Dispatcher


class Recorder:
    def __init__(self, name):
        self.name = name
        self.calls = []

    async def __call__(self, scope, receive, send):
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": self.name.encode()})

    async def startup(self):
        self.calls.append("startup")

    async def shutdown(self):
        self.calls.append("shutdown")


def call(app, scope, messages):
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_api_paths_go_to_the_gateway_and_the_rest_to_django():
    django_app, gateway = Recorder("django"), Recorder("gateway")
    app = Dispatcher(django_app, gateway)
    call(app, {"type": "http", "path": "/api/v1/chat/completions"}, [])
    call(app, {"type": "http", "path": "/models/"}, [])
    call(app, {"type": "http", "path": "/api/v1x"}, [])
    assert gateway.calls == ["/api/v1/chat/completions"]
    assert django_app.calls == ["/models/", "/api/v1x"]


def test_the_lifespan_starts_and_stops_the_gateway():
    gateway = Recorder("gateway")
    sent = call(
        Dispatcher(Recorder("django"), gateway),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert gateway.calls == ["startup", "shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_a_failing_gateway_start_is_reported_to_the_server():
    class Broken(Recorder):
        async def startup(self):
            raise RuntimeError("upstream client could not be created")

    sent = call(
        Dispatcher(Recorder("django"), Broken("g")), {"type": "lifespan"}, [{"type": "lifespan.startup"}]
    )
    assert sent == [{"type": "lifespan.startup.failed", "message": "upstream client could not be created"}]
