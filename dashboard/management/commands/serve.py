"""`manage.py serve`: everything a laptop needs in one foreground command.

Migrates (which also applies the periodic jobs' schedule settings: dashboard/schedules.py), creates an admin
user if there is none (printing its password once), loads the catalogue (live from OpenRouter, else the
bundled snapshot), then runs web (uvicorn) + Celery worker + beat with honcho.
"""

from __future__ import annotations

import os
import socket
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from catalog.selectors.catalogue import catalogue_size
from dashboard import checks
from dashboard.accounts import admin_user_ensure


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Run Tokenledger: web (ASGI) + Celery worker + beat, after migrating and loading the catalogue."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TOKENLEDGER_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TOKENLEDGER_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=1, help="web worker processes")
        parser.add_argument("--no-catalogue", action="store_true", help="skip loading the catalogue")
        parser.add_argument(
            "--prepare-only", action="store_true", help="migrate, create the admin, load; then exit"
        )

    def handle(self, *args, host, port, workers, no_catalogue, prepare_only, **options):
        if not prepare_only and not port_is_free(host, port):
            raise CommandError(
                f"port {port} on {host} is already in use: stop what runs there or pass --port"
            )
        # Our start-up warnings (dashboard/checks.py: a missing OpenRouter key): printed here only.
        self.check(tags=[checks.TAG], include_deployment_checks=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready")
        self.ensure_admin()
        if not no_catalogue:
            self.ensure_catalogue()
        if prepare_only:
            return
        self.run_processes(host, port, workers)

    def ensure_admin(self) -> None:
        password = admin_user_ensure()
        if password is None:
            self.stdout.write(
                "log in with your admin user (manage.py changepassword <name> if you forgot it)"
            )
            return
        self.stdout.write(self.style.SUCCESS(f"created the admin user: log in as  admin / {password}"))
        self.stdout.write("(shown once; change it with: .venv/bin/python manage.py changepassword admin)")

    def ensure_catalogue(self) -> None:
        if catalogue_size(include_retired=True):
            self.stdout.write(f"catalogue: {catalogue_size()} models (synced hourly)")
            return
        try:
            call_command("sync_catalog", stdout=self.stdout, stderr=self.stderr)
        except (CommandError, SystemExit) as exc:
            self.stdout.write(f"live catalogue unreachable ({exc}); loading the bundled snapshot")
            call_command("sync_catalog", "--seed", stdout=self.stdout, stderr=self.stderr)

    def run_processes(self, host: str, port: int, workers: int) -> None:
        # Start-up cost only: honcho (with subprocess, ~30 ms) loads when the processes start, never for
        # --prepare-only (compose's one-off preparing step).
        from honcho.manager import Manager

        env = {**os.environ, "TOKENLEDGER_HTTPS": os.environ.get("TOKENLEDGER_HTTPS", "0")}
        env["TOKENLEDGER_DATA_DIR"] = str(settings.DATA_DIR)
        python = sys.executable
        manager = Manager()
        proxies = ",".join(settings.TRUSTED_PROXIES)  # X-Forwarded-For from these peers only
        manager.add_process(
            "web",
            f"{python} -m uvicorn dashboard.asgi:application --host {host} --port {port} "
            f"--workers {workers} --no-access-log --lifespan on"
            + (f" --forwarded-allow-ips={proxies}" if proxies else ""),
            env=env,
        )
        manager.add_process(
            "worker", f"{python} -m celery -A dashboard worker -l info --concurrency 2", env=env
        )
        manager.add_process("beat", f"{python} -m celery -A dashboard beat -l info", env=env)
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(
            self.style.SUCCESS(f"Tokenledger is starting on http://{shown}:{port}/  (Ctrl-C stops)")
        )
        manager.loop()
        sys.exit(manager.returncode)
