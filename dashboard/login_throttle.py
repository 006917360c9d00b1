"""Failed logins throttled by django-axes, per username and client address (AXES_LOCKOUT_PARAMETERS).

The client address is REMOTE_ADDR, unless the peer is one of TRUSTED_PROXIES (the compose proxy's
addresses or networks): then it is the right-most X-Forwarded-For entry that is not itself a trusted proxy.
Anybody else's X-Forwarded-For is ignored, so a client cannot pick the address its failures count against.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check before the password is tried. An authenticate() call without a request (the test
    client's login(), a shell) comes from no login page and no address: there is nothing to count."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request) -> str:
    """AXES_CLIENT_IP_CALLABLE: the address a login attempt counts against."""
    peer = request.META.get("REMOTE_ADDR", "")
    if not _trusted(peer):
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            return hop
    return peer


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the login page again, saying why and for how long, with 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"Too many failed logins for this username from your address. Try again in {minutes} minutes, "
        "or ask an admin to unlock it (Admin › Access attempts)."
    )
    context = {"locked_out": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
