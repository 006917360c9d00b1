"""Configuration sanity as system checks: what a person should see when the product starts."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility)
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
