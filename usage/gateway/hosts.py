"""The Host header against ALLOWED_HOSTS, as Django checks it for the pages (a forged Host is a 400 without
a row, counted as a keyless refusal). Each distinct Host value is checked once and remembered."""

from __future__ import annotations

from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]  # Django's hosts when DEBUG and ALLOWED_HOSTS is empty
MAX_REMEMBERED = 1000


class Hosts:
    __slots__ = ("allowed_hosts", "known")

    def __init__(self) -> None:
        self.allowed_hosts: list[str] = []
        self.known: dict[bytes, bool] = {}

    def allowed(self, scope) -> bool:
        allowed = settings.ALLOWED_HOSTS
        if allowed is not self.allowed_hosts:  # the setting changed (tests): forget what was checked
            self.allowed_hosts, self.known = allowed, {}
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
            if len(self.known) < MAX_REMEMBERED:
                self.known[host] = known
        return known
