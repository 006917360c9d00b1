"""Configuration sanity as system checks: what a person should see when the product starts.

Registered as deployment checks under the "tokenledger" tag, so that `serve` (which runs them as it starts)
and `manage.py check --deploy` print them, and every other command (sync_catalog from cron, rollups,
migrate, the tests) stays quiet about them.
"""

from django.conf import settings
from django.core.checks import Warning, register

TAG = "tokenledger"


@register(TAG, deploy=True)
def openrouter_key_check(app_configs, **kwargs):
    if settings.OPENROUTER_API_KEY:
        return []
    return [
        Warning(
            "OPENROUTER_API_KEY is not set: the catalogue syncs, but the gateway cannot forward requests.",
            hint="Set OPENROUTER_API_KEY in the environment (see .env.example).",
            id="tokenledger.W001",
        )
    ]
