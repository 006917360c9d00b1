"""The people who use the dashboard: the first admin, created when there is none (`manage.py serve`)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction


def admin_user_ensure() -> str | None:
    """Create the `admin` superuser if there is none; its generated password (to show once), or None."""
    users = get_user_model()
    with transaction.atomic():
        if users.objects.filter(is_superuser=True).exists():
            return None
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "", password)
    return password
