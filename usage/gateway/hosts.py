"""The Host header checked against ALLOWED_HOSTS, as Django checks it for the pages; each host's verdict
remembered (up to 1 000 hosts) until the setting changes."""

from __future__ import annotations

from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]  # Django's hosts when DEBUG and ALLOWED_HOSTS is empty


class Hosts:
    def __init__(self) -> None:
        self.known: dict[bytes, bool] = {}
        self.allowed: list[str] = []

    def allow(self, scope) -> bool:
        allowed = settings.ALLOWED_HOSTS
        if allowed is not self.allowed:  # the setting changed (tests): forget what was checked
            self.allowed, self.known = allowed, {}
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        known = self.known.get(host)
        if known is None:
            text = host.decode("latin-1") if host else (scope.get("server") or ("",))[0]
            domain, _port = split_domain_port(text)
            known = bool(domain) and validate_host(domain, allowed or (DEBUG_HOSTS if settings.DEBUG else []))
            if len(self.known) < 1000:
                self.known[host] = known
        return known
