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
from usage.selectors.ledger import ledger_is_empty

DEMO_ENV = "TOKENLEDGER_DEMO"
DEMO_REQUESTS = 2000
# The demo runs on SQLite and the filesystem broker in its own data dir, never on the configured servers.
DEMO_DROPPED = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "TOKENLEDGER_DATA_DIR")


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
        parser.add_argument(
            "--demo",
            action="store_true",
            help=f"run on demo data ({DEMO_REQUESTS} requests over 30 days) in a separate data dir "
            "(<data dir>-demo, SQLite): a real ledger is never touched",
        )

    def handle(self, *args, host, port, workers, no_catalogue, prepare_only, demo=False, **options):
        if demo and os.environ.get(DEMO_ENV) != "1":
            self.restart_in_demo_dir()  # does not return
        if not prepare_only and not port_is_free(host, port):
            raise CommandError(
                f"port {port} on {host} is already in use: stop what runs there or pass --port"
            )
        # Our start-up warnings (dashboard/checks.py: a missing OpenRouter key): printed here only.
        self.check(tags=[checks.TAG], include_deployment_checks=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready")
        self.ensure_admin()
        if demo:
            self.ensure_demo_data()
        elif not no_catalogue:
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

    def restart_in_demo_dir(self) -> None:
        """Run this same command again with the demo data dir, on SQLite and the filesystem broker: whatever
        DATABASE_URL, CELERY_BROKER_URL or REDIS_URL say, demo rows never reach a real ledger."""
        demo_dir = settings.DATA_DIR.with_name(f"{settings.DATA_DIR.name}-demo")
        if settings.DATA_DIR.name.endswith("-demo"):
            demo_dir = settings.DATA_DIR
        environment = {k: v for k, v in os.environ.items() if k not in DEMO_DROPPED}
        environment |= {DEMO_ENV: "1", "TOKENLEDGER_DATA_DIR": str(demo_dir)}
        self.stdout.write(f"demo: data in {demo_dir} (separate from your own data dir)")
        self.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], environment)  # noqa: S606 - this same command

    def ensure_demo_data(self) -> None:
        if not catalogue_size(include_retired=True):
            call_command("sync_catalog", "--seed", stdout=self.stdout, stderr=self.stderr)
        if ledger_is_empty():
            call_command(
                "seed_demo_traffic", requests=DEMO_REQUESTS, days=30, stdout=self.stdout, stderr=self.stderr
            )
        else:
            self.stdout.write("demo: the ledger already has its demo traffic")

    def run_processes(self, host: str, port: int, workers: int) -> None:
        # Start-up cost only: honcho (with subprocess, ~30 ms) loads when the processes start, never for
        # --prepare-only (compose's one-off preparing step).
        from honcho import manager as honcho_manager
        from honcho.manager import Manager

        # honcho sends SIGKILL to what still runs 5 s after its SIGTERM: a Celery worker's warm shutdown (its
        # broker poll ending) can take about that long on a busy laptop. Give it time to end by itself.
        honcho_manager.KILL_WAIT = 20

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
        # The solo pool, not prefork: on Ctrl-C honcho signals each process group, and forked pool children
        # killed under the worker were logged as errors ("ForkPoolWorker exited with signal 15").
        worker = f"{python} -m celery -A dashboard worker -l info --pool solo"
        manager.add_process("worker", worker, env=env)
        manager.add_process("beat", f"{python} -m celery -A dashboard beat -l info", env=env)
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(
            self.style.SUCCESS(f"Tokenledger is starting on http://{shown}:{port}/  (Ctrl-C stops)")
        )
        manager.loop()
        sys.exit(manager.returncode)
