"""Create a gateway API key; the secret is printed alone on the last line (it is not stored)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from usage.management.arguments import moment
from usage.models import ApiKey
from usage.selectors.keys import user_named
from usage.services.keys import api_key_create


def parse_budget(raw: str) -> Decimal:
    try:
        budget = Decimal(raw)
    except InvalidOperation:
        raise CommandError(f"--budget must be an amount in USD (e.g. 25 or 2.50); got {raw!r}") from None
    if (
        not budget.is_finite()
        or budget < 0
        or budget != budget.quantize(Decimal("0.0001"))
        or budget >= 10**10
    ):
        raise CommandError(f"--budget must be 0 or more, with at most 4 decimals; got {raw!r}")
    return budget


def positive(name: str):
    def parse(raw: str) -> int:
        if not raw.isdigit() or int(raw) < 1 or int(raw) > 10**9:
            raise CommandError(f"--{name} must be a whole number from 1; got {raw!r}")
        return int(raw)

    return parse


class Command(BaseCommand):
    help = "Create an API key for the gateway and print its secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", help="Username of the key's owner")
        parser.add_argument("--budget", help="Budget in USD for each period")
        parser.add_argument("--period", default="monthly", help="none, daily, weekly or monthly (default)")
        parser.add_argument("--rpm", help="Requests per minute")
        parser.add_argument("--tpm", help="Tokens per minute")
        parser.add_argument("--models", help='Allowed models, comma-separated: exact ids or "author/*"')
        parser.add_argument("--expires", help="Expiry date or time (UTC unless given)")
        parser.add_argument(
            "--cache",
            action="store_true",
            help="Answer repeated deterministic requests from the response cache",
        )
        parser.add_argument(
            "--capture",
            action="store_true",
            help="Keep each request's body and reply (redacted) for its activity page (docs/gateway.md)",
        )

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        if options["period"] not in ApiKey.Period.values:
            raise CommandError(
                f"--period must be one of {', '.join(ApiKey.Period.values)}; got {options['period']!r}"
            )
        owner = None
        if options["owner"]:
            owner = user_named(username=options["owner"])
            if owner is None:
                raise CommandError(f"No user named {options['owner']!r}")
        models = [m.strip() for m in (options["models"] or "").split(",") if m.strip()]
        try:
            key, secret = api_key_create(
                name=name,
                owner=owner,
                budget_usd=parse_budget(options["budget"]) if options["budget"] else None,
                budget_period=options["period"],
                rpm_limit=positive("rpm")(options["rpm"]) if options["rpm"] else None,
                tpm_limit=positive("tpm")(options["tpm"]) if options["tpm"] else None,
                allowed_models=models,
                expires_at=moment(options["expires"], option="--expires") if options["expires"] else None,
                cache_responses=options["cache"],
                capture_bodies=options["capture"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Created key {key.name!r} ({key.prefix}…). Its secret, shown only now:")
        self.stdout.write(secret)
