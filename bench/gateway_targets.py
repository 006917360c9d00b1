#!/usr/bin/env python3
"""The gateway's yardstick (issue 13, "Targets"): one fixed set-up, LiteLLM and Portkey in the same run.

    bench/setup.sh                                   # once: LiteLLM 1.106.2 and Portkey, outside the repo
    python3 bench/gateway_targets.py                 # the full run: 3 rounds of 8 s runs (~16 min)
    python3 bench/gateway_targets.py --proxies tl-sqlite --rounds 1 --duration 2     # a quick look
    python3 bench/gateway_targets.py --root ../wt-old --label before                 # another checkout
    python3 bench/gateway_targets.py --endpoint messages                             # /messages, not chat

Each round measures, against the shared fake upstream (nginx, ../shared/bench, 127.0.0.1:18080):
  direct        wrk straight to nginx (the baseline), nothing else running;
  tokenledger   one uvicorn worker (`uvicorn dashboard.asgi:application --workers 1 --loop uvloop
                --http httptools --no-access-log`) with the Celery worker and beat beside it, as `manage.py
                serve` runs them, on SQLite (embedded defaults: filesystem broker, no Redis) and on PostgreSQL
                + Redis; a key without limits ("plain") and one with a budget and an rpm limit ("limited");
  portkey       Portkey's gateway (node, non-stream only: its stream mode fails against the fake);
  litellm       LiteLLM, one worker (../shared/bench/litellm.sh).
Each proxy is started for its turn and stopped after it (its CPU is counted for its own process tree only:
the Celery worker and beat are not charged to the gateway). For every (proxy, key, mode): a smoke check, a
warm-up, then one wrk run per connection count. After its runs each Tokenledger configuration is stopped
gracefully (SIGTERM: the ledger writer flushes) and its new ledger rows of forwarded requests must equal the
requests the upstream counted meanwhile (rows rejected before forwarding, requests wrk closed in flight when
it stopped, are counted apart).

The table shows each figure as the median of the rounds and its spread (min–max), and a check of every
Tokenledger line against the targets. Results: bench/results/<UTC stamp>-<label>/ (raw wrk output, process
logs, output.txt, summary.md, summary.json).

With --endpoint messages every request is an Anthropic Messages one (wrk/messages.lua, x-api-key) to
/api/v1/messages, and the upstream is our own fake of OpenRouter's /messages (bench/nginx-messages.conf on
127.0.0.1:18081, started and stopped by gateway_messages.py): the direct baseline is wrk straight to it, the
Tokenledger configurations forward to it (their catalogue synced from it) and the ledger checks count
against it. Portkey and LiteLLM are skipped there (their targets show n/a).

Knobs: the flags below (--help), or BENCH_DURATION, BENCH_ROUNDS, BENCH_PROXIES, BENCH_ROOT, BENCH_LABEL,
BENCH_ENDPOINT.
Exit status: 0 when every run produced figures and every ledger check matched (targets may still fail:
see the table; --strict makes a failed target exit 3), 1 when a run or a ledger check failed, 2 when a
piece is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gateway_messages
import gateway_targets_report as report

HERE = Path(__file__).resolve().parent
UPSTREAM_KEY = "sk-or-v1-bench-dummy-upstream-key"
LITELLM_KEY = "sk-bench-litellm-master"
PORTKEY_HEADERS = "x-portkey-provider: openai; x-portkey-custom-host: http://127.0.0.1:18080/api/v1"
CONFIGS = ("tl-sqlite", "tl-postgres", "portkey", "litellm")
LOCK = Path(tempfile.gettempdir()) / "tokenledger-gateway-targets.lock"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Api:
    """What --endpoint measures: the gateway's path (after /api/v1/), the fake upstream that answers it (the
    shared one, or bench/nginx-messages.conf), the model asked for, and the wrk script that asks."""

    path: str
    port: int
    model: str
    script: str

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.port}"


APIS = {
    "chat": Api("chat/completions", 18080, "openai/gpt-4o-mini", "chat.lua"),
    "messages": Api("messages", gateway_messages.PORT, "anthropic/claude-3.5-haiku", "messages.lua"),
}
ANCHORS = ("portkey", "litellm")  # measured on chat completions only


class Missing(Exception):
    """A piece the run needs is not there: one line saying what, and how to get it."""


# --------------------------------------------------------------------------------------------- processes
class Proc:
    """A process this script started (in its own session); stopped by its id, its group only if it hangs."""

    started: list[Proc] = []

    def __init__(self, name: str, argv: list[str], *, log: Path, env: dict | None = None, cwd=None):
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            options = dict(stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
            self.popen = subprocess.Popen(argv, start_new_session=True, **options)
        self.pid = self.popen.pid
        Proc.started.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM and wait; True when it exited by itself within the timeout (a graceful stop)."""
        if not self.alive():
            return True
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(10)
            return False

    @classmethod
    def stop_all(cls) -> None:
        for proc in reversed(cls.started):
            proc.stop(timeout=15)


def log_has(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(errors="replace")
    except OSError:
        return False


def wait_for(what: str, ready, *, proc: Proc | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and not proc.alive():
            lines = proc.log.read_text(errors="replace").strip().splitlines() or ["(empty)"]
            raise RuntimeError(f"{what} exited at start: {lines[-1].strip()[:200]}; see {proc.log}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s" + (f"; see {proc.log}" if proc else ""))


def http_answers(port: int, path: str = "/") -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def tree_cpu_seconds(root_pid: int) -> float:
    """utime+stime of root_pid and its live descendants, plus what their reaped children used."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(name)] = fields
        children.setdefault(int(fields[1]), []).append(int(name))
    total, todo, seen = 0, [root_pid], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += sum(int(x) for x in stats[pid][11:15])  # utime stime cutime cstime
        todo.extend(children.get(pid, []))
    return total / CLK_TCK


def upstream_count(port: int) -> int:
    """The requests the fake upstream on `port` has answered on its inference path since it started."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/_bench/stats")
    return int(json.loads(conn.getresponse().read())["total"])


def run(argv: list[str], *, timeout: float, env=None, cwd=None, what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what}: no answer within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}")
    return done.stdout


# --------------------------------------------------------------------------------------------- the run
@dataclass(slots=True)
class Target:
    """What wrk is pointed at: one line of the table without its mode and connection count."""

    proxy: str
    db: str
    key: str
    url: str
    secret: str
    headers: str = ""
    pid: int | None = None  # the process tree whose CPU is charged


class Bench:
    def __init__(self, args):
        self.args = args
        self.api: Api = APIS[args.endpoint]
        self.root: Path = args.root
        self.shared: Path = args.shared
        self.python = str(self.root / ".venv" / "bin" / "python")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.out = HERE / "results" / f"{stamp}-{args.label}"
        self.output = None  # output.txt in self.out, opened once the preflight passed
        self.records: list[dict] = []
        self.ledger: list[dict] = []
        self.prepared: dict[str, dict] = {}  # config -> env, keys
        self.started_upstream = False
        self.started_litellm = False

    def say(self, text: str = "", file=None) -> None:
        print(text, flush=True, file=file)
        if self.output is not None:
            self.output.write(text + "\n")
            self.output.flush()

    # ---- preflight: every piece there before anything starts
    def preflight(self) -> None:
        a = self.args
        if not shutil.which("wrk"):
            raise Missing("wrk not installed: apt-get install -y wrk")
        if a.endpoint == "chat" and not (self.shared / "upstream.sh").exists():
            raise Missing(f"the shared bench harness is not at {self.shared}: pass --shared DIR")
        if a.endpoint == "messages" and gateway_messages.missing():
            raise Missing(gateway_messages.missing())
        if not (self.root / "manage.py").exists():
            raise Missing(f"{self.root} is not a Tokenledger checkout (no manage.py): check --root")
        if not Path(self.python).exists():
            raise Missing(
                f"no .venv in {self.root}: cd {self.root} && python3 -m venv .venv && "
                ".venv/bin/pip install -e '.[test]'"  # [test]: kombu's Redis transport needs packaging
            )
        if "litellm" in a.proxies and not (a.litellm_venv / "bin" / "litellm").exists():
            raise Missing("LiteLLM not installed: run bench/setup.sh")
        if "portkey" in a.proxies and not self.portkey_script().exists():
            raise Missing("Portkey not installed: run bench/setup.sh")
        if "portkey" in a.proxies and not shutil.which("node"):
            raise Missing("node not installed: apt-get install -y nodejs npm")
        if "tl-postgres" in a.proxies:
            if not shutil.which("psql"):
                raise Missing("psql not installed: apt-get install -y postgresql-client")
            if port_free(5432):
                raise Missing("PostgreSQL not reachable on 127.0.0.1:5432 (trust auth, user postgres)")
            if not self.redis("PING").startswith("+PONG"):
                raise Missing("Redis not reachable on 127.0.0.1:6379")
        ports = {"portkey": a.portkey_port, "litellm": a.litellm_port}
        ports |= {config: a.port for config in a.proxies if config.startswith("tl-")}
        for name, port in ports.items():
            if name in a.proxies and not port_free(port):
                raise Missing(f"port {port} ({name}) is in use: stop what runs there, or pick another port")

    def portkey_script(self) -> Path:
        return self.args.portkey_dir / "node_modules/@portkey-ai/gateway/build/start-server.js"

    def redis(self, *commands: str) -> str:
        """Inline Redis commands on the bench's own database number; the last reply."""
        try:
            with socket.create_connection(("127.0.0.1", 6379), timeout=3) as sock:
                sock.sendall(f"SELECT {self.args.redis_db}\r\n".encode())
                sock.recv(64)
                reply = ""
                for command in commands:
                    sock.sendall((command + "\r\n").encode())
                    reply = sock.recv(64).decode()
                return reply
        except OSError:
            return ""

    def upstream_count(self) -> int:
        return upstream_count(self.api.port)

    def ensure_upstream(self) -> None:
        try:
            self.upstream_count()
        except OSError:
            if self.args.endpoint == "messages":
                self.say("   " + gateway_messages.start())
            else:
                what = "starting the fake upstream"
                run([str(self.shared / "upstream.sh"), "start"], timeout=30, what=what)
            self.started_upstream = True

    # ---- Tokenledger: prepare a database once, start gateway + Celery per round
    def tl_env(self, config: str, data: Path) -> dict:
        env = dict(os.environ)
        example = self.root / ".env.example"
        names = [ln.split("=", 1)[0].strip() for ln in example.read_text().splitlines() if "=" in ln]
        for name in names:  # nothing from the caller's environment changes the set-up
            env.pop(name.lstrip("# "), None)
        env.update(
            DJANGO_SETTINGS_MODULE="dashboard.settings",
            TOKENLEDGER_DATA_DIR=str(data),
            TOKENLEDGER_HTTPS="0",
            OPENROUTER_BASE_URL=f"{self.api.upstream}/api/v1",
            OPENROUTER_API_KEY=UPSTREAM_KEY,
        )
        if config == "tl-postgres":
            redis_url = f"redis://127.0.0.1:6379/{self.args.redis_db}"
            env.update(DATABASE_URL=self.args.pg_url, REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url)
        return env

    def manage(self, env: dict, *argv: str, timeout: float = 300) -> str:
        what = f"manage.py {argv[0]}"
        return run([self.python, "manage.py", *argv], timeout=timeout, env=env, cwd=self.root, what=what)

    def prepare(self, config: str) -> None:
        data = Path(tempfile.mkdtemp(prefix=f"gateway-targets-{config}-"))
        env = self.tl_env(config, data)
        if config == "tl-postgres":
            base, name = self.args.pg_url.rsplit("/", 1)
            for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
                run(["psql", f"{base}/postgres", "-qc", sql], timeout=60, what=f"psql {sql}")
            self.redis("FLUSHDB")
        self.manage(env, "migrate", "-v0")
        self.manage(env, "sync_catalog", "--url", f"{self.api.upstream}/api/v1/models", timeout=120)
        limits = ["--budget", "1000000", "--rpm", "100000000"]  # never refuses during a run
        keys = {
            "plain": self.manage(env, "create_api_key", "--name", "bench-plain").split()[-1],
            "limited": self.manage(env, "create_api_key", "--name", "bench-limited", *limits).split()[-1],
        }
        self.prepared[config] = {"env": env, "data": data, "keys": keys}
        self.say(f"   prepared {config}: data {data}, keys plain + limited (budget 1 000 000, rpm 10^8)")

    def ledger_query(self, env: dict, code: str) -> str:
        code = "import django; django.setup()\nfrom usage.models import LedgerEntry\n" + code
        return run([self.python, "-c", code], timeout=120, env=env, cwd=self.root, what="ledger query")

    def ledger_rows(self, env: dict) -> tuple[int, int, int]:
        """(rows of requests the upstream answered, rows of requests whose client closed while they were on
        their way upstream or waiting for it, rows rejected before: wrk closes those in flight when it
        stops). A request cancelled on its way may or may not have been counted by the upstream."""
        out = self.ledger_query(
            env,
            "rejected = LedgerEntry.objects.filter(status='rejected').count()\n"
            "cancelled = LedgerEntry.objects.filter(status='cancelled').count()\n"
            "print(LedgerEntry.objects.count() - rejected - cancelled, cancelled, rejected)",
        )
        answered, cancelled, rejected = out.split()
        return int(answered), int(cancelled), int(rejected)

    def ledger_kinds(self, env: dict, skip: int) -> str:
        """The new rows by status, HTTP status and error code: tells a lost row from an extra one."""
        return self.ledger_query(
            env,
            "from django.db.models import Count\n"
            f"ids = list(LedgerEntry.objects.order_by('id').values_list('id', flat=True)[{skip}:])\n"
            "rows = LedgerEntry.objects.filter(id__in=ids).values('status', 'http_status', 'error_code')\n"
            "for kind in rows.annotate(n=Count('id')).order_by('-n'): print('     ', kind)",
        )

    def run_tokenledger(self, config: str, rnd: int) -> None:
        prep = self.prepared[config]
        env, db = prep["env"], config.removeprefix("tl-")
        (rows0, cancelled0, rejected0), hits0 = self.ledger_rows(env), self.upstream_count()
        tag = f"r{rnd}-{config}"
        commands = {  # as `manage.py serve` starts the worker and beat; the web worker as issue 13 fixes it
            "celery-worker": "-m celery -A dashboard worker -l info --concurrency 2",
            "celery-beat": "-m celery -A dashboard beat -l info",
            "gateway": "-m uvicorn dashboard.asgi:application --workers 1 --loop uvloop --http httptools "
            f"--no-access-log --host 127.0.0.1 --port {self.args.port}",
        }
        # Celery runs in the data directory: kombu's filesystem transport writes a control/ folder into its
        # working directory (the settings give it none), which must not land in the checkout.
        celery_env = dict(env, PYTHONPATH=str(self.root))
        worker, beat, gateway = (
            Proc(
                name,
                [self.python, *line.split()],
                log=self.out / f"{tag}-{name}.log",
                env=env if name == "gateway" else celery_env,
                cwd=self.root if name == "gateway" else prep["data"],
            )
            for name, line in commands.items()
        )
        graceful = False
        try:
            wait_for("the gateway", lambda: http_answers(self.args.port, "/api/v1/models"), proc=gateway)
            wait_for("the celery worker", lambda: log_has(worker.log, " ready."), proc=worker, timeout=90)
            wait_for("celery beat", lambda: log_has(beat.log, "beat: Starting"), proc=beat)
            for kind in self.args.keys:
                target = Target(
                    "tokenledger",
                    db,
                    kind,
                    f"http://127.0.0.1:{self.args.port}/api/v1/{self.api.path}",
                    prep["keys"][kind],
                    pid=gateway.pid,
                )
                self.measure(target, rnd, self.args.modes)
        finally:
            graceful = gateway.stop(timeout=60)
            for proc in (worker, beat):
                proc.stop(timeout=30)
        rows, cancelled, rejected = self.ledger_rows(env)
        rows, cancelled, rejected = rows - rows0, cancelled - cancelled0, rejected - rejected0
        hits = self.upstream_count() - hits0
        item = {
            "config": config,
            "round": rnd,
            "upstream": hits,
            "rows": rows + cancelled,
            "graceful": graceful,
        }
        self.ledger.append(item)
        verdict = "OK" if rows <= hits <= rows + cancelled and graceful else "MISMATCH"
        item["matched"] = verdict == "OK"
        self.say(
            f"   ledger {config}: upstream counted {hits}, new rows of answered requests {rows} and of"
            f" {cancelled} cancelled on their way (and {rejected} rejected before forwarding: closed by the"
            f" client), graceful: {graceful}: {verdict}"
        )
        if verdict != "OK":
            item["kinds"] = self.ledger_kinds(env, rows0 + cancelled0 + rejected0)
            self.say(item["kinds"].rstrip())

    # ---- the anchors
    def run_portkey(self, rnd: int) -> None:
        env = dict(os.environ, NODE_ENV="production")
        proc = Proc(
            "portkey",
            ["node", str(self.portkey_script()), f"--port={self.args.portkey_port}", "--headless"],
            log=self.out / f"r{rnd}-portkey.log",
            env=env,
        )
        try:
            wait_for("portkey", lambda: http_answers(self.args.portkey_port), proc=proc)
            target = Target(
                "portkey",
                "-",
                "-",
                f"http://127.0.0.1:{self.args.portkey_port}/v1/chat/completions",
                "sk-dummy",
                headers=PORTKEY_HEADERS,
                pid=proc.pid,
            )
            self.measure(target, rnd, [m for m in self.args.modes if m == "nonstream"])
        finally:
            proc.stop()

    def litellm(self, action: str, *extra: str) -> str:
        a = self.args
        env = dict(os.environ, LITELLM_VENV=str(a.litellm_venv), LITELLM_PORT=str(a.litellm_port))
        argv = [str(self.shared / "litellm.sh"), action, *extra]
        return run(argv, timeout=120, env=env, what=f"litellm.sh {action}")

    def run_litellm(self, rnd: int) -> None:
        self.started_litellm = True
        try:
            self.say("   " + self.litellm("start", "1").strip())
            pid = int(self.litellm("pids").split()[0])
            target = Target(
                "litellm",
                "-",
                "-",
                f"http://127.0.0.1:{self.args.litellm_port}/v1/chat/completions",
                LITELLM_KEY,
                pid=pid,
            )
            self.measure(target, rnd, self.args.modes)
        finally:
            self.litellm("stop")
            self.started_litellm = False
            log = Path(os.environ.get("LITELLM_RUNDIR", "/tmp/bench-litellm")) / "litellm.log"
            with contextlib.suppress(OSError):
                shutil.copy(log, self.out / f"r{rnd}-litellm.log")

    # ---- wrk
    def measure(self, target: Target, rnd: int, modes: list[str]) -> None:
        for mode in modes:
            if not self.smoke(target, mode, rnd):
                for conns in self.args.conns:
                    self.records.append(self.failed(target, rnd, mode, conns, "smoke check failed"))
                continue
            if self.args.warmup > 0:
                self.wrk(target, rnd, mode, max(self.args.conns), self.args.warmup, record=False)
                time.sleep(self.args.pause)
            for conns in self.args.conns:
                self.records.append(self.wrk(target, rnd, mode, conns, self.args.duration))
                time.sleep(self.args.pause)

    def name(self, target: Target, rnd: int, mode: str, what: str) -> str:
        parts = [f"r{rnd}", target.proxy, target.db, target.key, mode, what]
        return "-".join(p for p in parts if p != "-")

    def smoke(self, target: Target, mode: str, rnd: int) -> bool:
        checker = self.shared / "report.py"  # a well-formed chat completion
        if self.args.endpoint == "messages":
            checker = HERE / "gateway_messages.py"  # a well-formed message
        argv = [
            sys.executable,
            str(checker),
            "smoke",
            target.url,
            target.secret,
            self.api.model,
            "1" if mode == "stream" else "0",
        ]
        env = dict(os.environ, BENCH_HEADERS=target.headers)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
            text, ok = (done.stdout + done.stderr).strip(), done.returncode == 0
        except subprocess.TimeoutExpired:
            text, ok = "no answer within 60 s", False
        (self.out / (self.name(target, rnd, mode, "smoke") + ".txt")).write_text(text + "\n")
        if not ok:
            self.say(f"   !! smoke check {target.proxy} {target.db} {target.key} {mode}: {text[:300]}")
        return ok

    @staticmethod
    def result_line(target: Target, rnd: int, mode: str, conns: int, **figures) -> dict:
        """One line of results: what was measured, then its figures."""
        what = {"round": rnd, "proxy": target.proxy, "db": target.db, "key": target.key}
        return {**what, "mode": mode, "conns": conns, **figures}

    def failed(self, target: Target, rnd: int, mode: str, conns: int, why: str) -> dict:
        return self.result_line(target, rnd, mode, conns, ok=False, why=why, errors=0)

    def wrk(self, target: Target, rnd: int, mode: str, conns: int, duration: int, record=True) -> dict:
        raw = self.out / (self.name(target, rnd, mode, f"c{conns}" if record else "warmup") + ".txt")
        env = dict(
            os.environ,
            BENCH_KEY=target.secret,
            BENCH_MODEL=self.api.model,
            BENCH_HEADERS=target.headers,
            BENCH_STREAM="1" if mode == "stream" else "0",
            BENCH_TAG=raw.stem,
        )
        argv = [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{duration}s",
            f"--timeout={self.args.wrk_timeout}s",
            "--latency",
            "-s",
            str(HERE / "wrk" / self.api.script),
            target.url,
        ]
        hits0 = self.upstream_count()
        cpu0 = tree_cpu_seconds(target.pid) if target.pid else None
        why = ""
        try:
            with open(raw, "w") as out:
                done = subprocess.run(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=duration + self.args.wrk_timeout + 20,
                )
            if done.returncode != 0:
                why = f"wrk exited {done.returncode}"
        except subprocess.TimeoutExpired:
            why = "wrk did not finish in time (killed)"
        cpu1 = tree_cpu_seconds(target.pid) if target.pid else None
        hits = self.upstream_count() - hits0
        if not record:
            return {}
        result = None
        for ln in raw.read_text(errors="replace").splitlines():
            if ln.startswith("BENCH_RESULT "):
                result = json.loads(ln.split(" ", 1)[1])
        if why or result is None:
            self.say(f"   !! {raw.name}: {why or 'no BENCH_RESULT line'}")
            return self.failed(target, rnd, mode, conns, why or "no BENCH_RESULT line")
        errors = sum(result["errors"].values())
        cpu_ms = None
        if cpu0 is not None and result["requests"]:
            cpu_ms = 1000.0 * (cpu1 - cpu0) / result["requests"]
        latency = {name: result[name] for name in ("p50_ms", "p90_ms", "p99_ms", "p999_ms")}
        rec = self.result_line(
            target, rnd, mode, conns, ok=True, rps=result["rps"], requests=result["requests"], **latency,
            max_ms=result["lat_max_ms"], errors=errors, cpu_ms_per_req=cpu_ms, upstream=hits, raw=raw.name,
        )  # fmt: skip
        cpu = "-" if cpu_ms is None else f"{cpu_ms:.3f}"
        self.say(
            f"   {target.proxy:<11} {target.db:<8} {target.key:<7} {mode:<9} c{conns:<3} "
            f"{rec['rps']:>9.1f} rps  p50 {rec['p50_ms']:.2f}  p99 {rec['p99_ms']:.2f}  "
            f"p99.9 {rec['p999_ms']:.2f} ms  cpu {cpu} ms/req  errors {errors}  upstream {hits}"
        )
        return rec

    # ---- the whole run
    def main(self) -> int:
        a = self.args
        self.preflight()
        self.out.mkdir(parents=True)
        self.output = open(self.out / "output.txt", "a")  # noqa: SIM115 - closed in cleanup()
        commit = subprocess.run(
            ["git", "-C", str(self.root), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
        meta = {
            "label": a.label,
            "endpoint": f"/api/v1/{self.api.path}",
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "root": str(self.root),
            "commit": commit,
            "duration_s": a.duration,
            "rounds": a.rounds,
            "warmup_s": a.warmup,
            "conns": a.conns,
            "modes": a.modes,
            "proxies": a.proxies,
            "skipped": a.skipped,
            "keys": a.keys,
            "nproc": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
        }
        self.say(
            f"== gateway targets '{a.label}', {meta['endpoint']}: {self.root} ({commit}), {a.rounds} rounds "
            f"× {a.duration} s, conns {a.conns}, modes {a.modes}, {', '.join(a.proxies)}"
        )
        if a.endpoint != "chat":
            skipped = f" (skipped: {', '.join(a.skipped)})" if a.skipped else ""
            self.say(f"   Portkey and LiteLLM are not measured on {meta['endpoint']}{skipped}")
        self.say(f"   results: {self.out}   load average {os.getloadavg()[0]:.2f}")
        self.ensure_upstream()
        for config in a.proxies:
            if config.startswith("tl-"):
                self.prepare(config)
        direct = Target("direct", "-", "-", f"{self.api.upstream}/api/v1/{self.api.path}", UPSTREAM_KEY)
        for rnd in range(1, a.rounds + 1):
            self.say(f"-- round {rnd}/{a.rounds}  (load average {os.getloadavg()[0]:.2f})")
            self.check_upstream_idle()
            self.measure(direct, rnd, a.modes)
            for config in a.proxies:
                try:
                    if config.startswith("tl-"):
                        self.run_tokenledger(config, rnd)
                    elif config == "portkey":
                        self.run_portkey(rnd)
                    else:
                        self.run_litellm(rnd)
                except RuntimeError as exc:
                    self.say(f"   !! {config}, round {rnd}: {exc}")
                    self.records.append(self.failed(Target(config, "-", "-", "", ""), rnd, "-", 0, str(exc)))
        meta["loadavg_end"] = os.getloadavg()
        return self.finish(meta)

    def check_upstream_idle(self) -> None:
        before = self.upstream_count()
        time.sleep(0.5)
        if self.upstream_count() != before:
            self.say("   !! another client is sending requests to the fake upstream: counts will be off")

    def finish(self, meta: dict) -> int:
        lines = report.build_lines(self.records)
        report.check_targets(lines)
        passed, failed = report.tally(lines, self.ledger)
        table = report.markdown_table(lines)
        ledger = report.ledger_table(self.ledger)
        skipped = ""
        if self.args.endpoint != "chat":
            skipped = f"Portkey and LiteLLM are not measured on {meta['endpoint']}: their checks are n/a. "
        text = (
            f"Gateway targets '{meta['label']}', {meta['endpoint']}, {meta['commit']}, {meta['started']}: "
            f"median of {meta['rounds']} rounds (min–max), {meta['duration_s']} s per run, wrk -t1, "
            f"{meta['nproc']} cores shared by wrk, nginx and the proxy; load average "
            f"{meta['loadavg_start'][0]:.2f} → {meta['loadavg_end'][0]:.2f}.\n\n{table}\n\n{ledger}\n\n"
            f"Targets: {passed} checks passed, {failed} failed. {skipped}upstream = requests the fake "
            "upstream counted during the run; CPU = the proxy's process tree (utime+stime from /proc) / "
            "completed requests."
        )
        self.say()
        self.say(text)
        (self.out / "summary.md").write_text(text + "\n")
        summary = {
            **meta,
            "lines": [report.line_as_json(line) for line in lines],
            "ledger": self.ledger,
            "checks_passed": passed,
            "checks_failed": failed,
            "records": self.records,
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        self.say(f"results: {self.out}")
        broken = any(not r.get("ok") for r in self.records) or any(
            not item["matched"] for item in self.ledger
        )
        if broken:
            return 1
        return 3 if self.args.strict and failed else 0

    def cleanup(self) -> None:
        Proc.stop_all()
        if self.started_litellm:
            with contextlib.suppress(RuntimeError):
                self.litellm("stop")
        for prep in self.prepared.values():
            shutil.rmtree(prep["data"], ignore_errors=True)
        if self.started_upstream and self.args.endpoint == "messages":
            with contextlib.suppress(OSError):
                gateway_messages.stop()
        elif self.started_upstream:
            with contextlib.suppress(RuntimeError):
                run([str(self.shared / "upstream.sh"), "stop"], timeout=30, what="stopping the fake upstream")
        if self.output is not None:
            self.output.close()


# --------------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=int(env("BENCH_DURATION", "8")), help="s per run (8)")
    p.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "3")), help="rounds (3)")
    p.add_argument(
        "--proxies",
        default=env("BENCH_PROXIES", ",".join(CONFIGS)),
        help=f"comma-separated, from {', '.join(CONFIGS)} (all); 'tokenledger' = both tl-*. "
        "The direct baseline always runs",
    )
    p.add_argument(
        "--endpoint",
        choices=sorted(APIS),
        default=env("BENCH_ENDPOINT", "chat"),
        help="what every request is: chat (chat completions, the default) or messages (Anthropic Messages, "
        "against bench/nginx-messages.conf; Portkey and LiteLLM skipped)",
    )
    p.add_argument("--keys", default="plain,limited", help="Tokenledger keys: plain,limited (both)")
    p.add_argument("--modes", default="nonstream,stream", help="nonstream,stream (both)")
    p.add_argument("--conns", default="1,32", help="connection counts (1,32)")
    p.add_argument(
        "--root",
        type=Path,
        default=Path(env("BENCH_ROOT", HERE.parent)),
        help="the Tokenledger checkout to measure, with its own .venv (this one)",
    )
    p.add_argument("--label", default=env("BENCH_LABEL", ""), help="results folder suffix (targets-<commit>)")
    p.add_argument("--warmup", type=int, default=3, help="s of unrecorded load per proxy, key and mode (3)")
    p.add_argument("--pause", type=float, default=1.0, help="s of idle between runs (1)")
    p.add_argument("--wrk-timeout", type=int, default=10, help="wrk's per-request timeout in s (10)")
    p.add_argument("--port", type=int, default=18920, help="the gateway's port (18920)")
    p.add_argument("--portkey-port", type=int, default=18790)
    p.add_argument("--litellm-port", type=int, default=int(env("LITELLM_PORT", "14000")))
    p.add_argument(
        "--pg-url",
        default="postgres://postgres@127.0.0.1:5432/tokenledger_gateway_targets",
        help="a fresh database is created under this name (dropped first)",
    )
    p.add_argument("--redis-db", type=int, default=14, help="Redis database number, flushed at start (14)")
    shared = HERE.parent.parent / "shared" / "bench"
    p.add_argument("--shared", type=Path, default=Path(env("SHARED_BENCH", shared)), help=f"({shared})")
    p.add_argument("--litellm-venv", type=Path, default=Path(env("LITELLM_VENV", "/tmp/litellm-venv")))
    p.add_argument("--portkey-dir", type=Path, default=Path(env("PORTKEY_DIR", "/tmp/portkey")))
    p.add_argument("--strict", action="store_true", help="exit 3 when a target check fails")
    args = p.parse_args(argv)
    proxies = []
    for name in args.proxies.replace(" ", "").split(","):
        names = ["tl-sqlite", "tl-postgres"] if name == "tokenledger" else [name]
        for item in names:
            if item not in CONFIGS:
                p.error(f"unknown proxy {item!r}: choose from {', '.join(CONFIGS)} or tokenledger")
            if item not in proxies:
                proxies.append(item)
    args.skipped = [name for name in proxies if args.endpoint != "chat" and name in ANCHORS]
    args.proxies = [name for name in proxies if name not in args.skipped]
    args.keys = [k for k in args.keys.split(",") if k]
    args.modes = [m for m in args.modes.split(",") if m]
    args.conns = [int(c) for c in args.conns.split(",") if c]
    if not set(args.keys) <= {"plain", "limited"} or not set(args.modes) <= {"nonstream", "stream"}:
        p.error("--keys takes plain,limited and --modes nonstream,stream")
    args.root = args.root.resolve()
    args.shared = args.shared.resolve()
    if not args.label:
        short = subprocess.run(
            ["git", "-C", str(args.root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        endpoint = "" if args.endpoint == "chat" else f"{args.endpoint}-"
        args.label = f"targets-{endpoint}{short or 'unknown'}"
    return args


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    lock = open(LOCK, "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f"another gateway_targets run holds {LOCK}: wait for it to finish", file=sys.stderr)
        return 2
    # SIGTERM/SIGHUP stop the run like Ctrl-C: the finally below stops everything this script started.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    bench = Bench(args)
    try:
        return bench.main()
    except Missing as exc:
        bench.say(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # setting up failed (the upstream, a database): nothing was measured
        bench.say(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bench.say("interrupted: stopping what this run started")
        return 130
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
