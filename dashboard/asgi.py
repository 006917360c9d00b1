"""The one ASGI application: `/api/v1/` and `/metrics` go to the lean gateway, everything else to Django.

Django's own ASGI handler costs about 2 ms of CPU per request (../shared/bench), more than the gateway's
whole budget, so the gateway is a pure-ASGI app that only shares Django's settings and models.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

from dashboard.env import ConfigError  # noqa: E402

try:
    import django
    from django.core.asgi import get_asgi_application

    django.setup(set_prefix=False)
    django_app = get_asgi_application()
except ConfigError as exc:  # one clear line, not a traceback, when the environment is wrong
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(1) from None

from usage.gateway.app import gateway  # noqa: E402

GATEWAY_PREFIX = "/api/v1/"
METRICS_PATH = "/metrics"  # Prometheus scrapes, served by the gateway too


class Dispatcher:
    """Route by path prefix and run the gateway's start-up and shut-down in the ASGI lifespan."""

    def __init__(self, django_app, gateway_app) -> None:
        self.django_app = django_app
        self.gateway = gateway_app

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "http" and (scope["path"].startswith(GATEWAY_PREFIX) or scope["path"] == METRICS_PATH):
            await self.gateway(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.startup()
                except Exception as exc:  # reported to the server, which refuses to start
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = Dispatcher(django_app, gateway)
