#!/usr/bin/env python3
"""Where the gateway's CPU goes, per request: its event loop, its other threads, the ledger writer's process;
and the same for other checkouts, run by run in turn (an A/B on a noisy machine).

    python3 bench/gateway_cpu.py                                   # this checkout: 3 runs of 5 s at c1
    python3 bench/gateway_cpu.py --roots ../wt-old,. --conns 32    # two checkouts in turn, 32 connections
    python3 bench/gateway_cpu.py --mode stream --runs 5

gateway_targets.py is the yardstick (its set-up, its targets); this is the magnifying glass. The gateway runs
as gateway_targets.py runs it (one uvicorn worker, uvloop, httptools), on SQLite, against the shared fake
upstream (../shared/bench, 127.0.0.1:18080), with a key without limits, but without the Celery worker and
beat, and each run on a fresh copy of one migrated database (a ledger that grows from run to run costs more
per row). After a warm-up of 2 s, wrk runs `--duration` s; the CPU (utime + stime, from /proc) of each
thread of the gateway's process and of the ledger writer's process, divided by the requests wrk completed,
is printed per run, then the median of each checkout. The runs of the checkouts alternate, so that a
machine that gets busier or quieter during the runs weighs on each alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_targets import APIS, HERE, UPSTREAM_KEY, Proc, http_answers, run, upstream_count, wait_for

CHAT = APIS["chat"]  # chat completions against the shared fake upstream
UPSTREAM, MODEL = CHAT.upstream, CHAT.model

CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_ticks(pid: int) -> dict[int, int]:
    """utime + stime of each thread of a process, by thread id."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks


def writer_pid(gateway: int) -> int | None:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            if parent == gateway and b"ledger_main" in cmdline:
                return int(name)
    return None


class Checkout:
    def __init__(self, root: Path, work: Path, port: int) -> None:
        self.root = root
        self.python = str(root / ".venv" / "bin" / "python")
        self.port = port
        self.pristine = work / f"{root.name}-pristine"
        self.data = work / f"{root.name}-data"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
            },
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "TOKENLEDGER_HTTPS": "0",
            "OPENROUTER_BASE_URL": f"{UPSTREAM}/api/v1",
            "OPENROUTER_API_KEY": UPSTREAM_KEY,
        }
        self.secret = ""
        self.name = str(root)

    def prepare(self) -> None:
        env = {**self.env, "TOKENLEDGER_DATA_DIR": str(self.pristine)}
        self.pristine.mkdir(parents=True)
        for argv in (["migrate", "-v0"], ["sync_catalog", "--url", f"{UPSTREAM}/api/v1/models"]):
            run([self.python, "manage.py", *argv], timeout=300, env=env, cwd=self.root, what=argv[0])
        out = run(
            [self.python, "manage.py", "create_api_key", "--name", "cpu"],
            timeout=60,
            env=env,
            cwd=self.root,
            what="create_api_key",
        )
        self.secret = out.split()[-1]

    def measure(self, args, log: Path) -> dict[str, float]:
        argv, env = self.command()
        gateway = Proc("gateway", argv, log=log, env=env, cwd=self.root)
        try:
            wait_for("the gateway", lambda: http_answers(self.port, "/api/v1/models"), proc=gateway)
            self.wrk(args, 2)
            writer = writer_pid(gateway.pid)
            before = thread_ticks(gateway.pid), thread_ticks(writer) if writer else {}
            requests = self.wrk(args, args.duration)
            after = thread_ticks(gateway.pid), thread_ticks(writer) if writer else {}
        finally:
            gateway.stop(timeout=60)
        loop = after[0].get(gateway.pid, 0) - before[0].get(gateway.pid, 0)
        threads = sum(after[0].values()) - sum(before[0].values()) - loop
        written = sum(after[1].values()) - sum(before[1].values())
        per = 1e6 / CLK_TCK / max(requests, 1)  # µs per request of one tick
        figures = {"loop": loop * per, "threads": threads * per, "writer": written * per}
        figures["total"] = sum(figures.values())
        figures["requests"] = requests
        return figures

    def command(self, app: str = "dashboard.asgi:application") -> tuple[list[str], dict]:
        """uvicorn as gateway_targets.py runs it, on a fresh copy of the migrated database."""
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.copytree(self.pristine, self.data)
        argv = [
            self.python,
            "-m",
            "uvicorn",
            app,
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ]
        argv += ["--no-access-log", "--host", "127.0.0.1", "--port", str(self.port)]
        return argv, {**self.env, "TOKENLEDGER_DATA_DIR": str(self.data)}

    def wrk(self, args, seconds: int) -> int:
        env = {
            **os.environ,
            "BENCH_KEY": self.secret,
            "BENCH_MODEL": MODEL,
            "BENCH_HEADERS": "",
            "BENCH_STREAM": "1" if args.mode == "stream" else "0",
            "BENCH_TAG": "cpu",
        }
        url = f"http://127.0.0.1:{self.port}/api/v1/chat/completions"
        argv = [
            "wrk",
            "-t1",
            f"-c{args.conns}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "wrk" / "chat.lua"),
        ]
        out = subprocess.run(
            [*argv, url], capture_output=True, text=True, env=env, timeout=seconds + 60
        ).stdout
        for line in out.splitlines():
            if line.startswith("BENCH_RESULT "):
                result = json.loads(line.split(" ", 1)[1])
                if sum(result["errors"].values()):
                    raise RuntimeError(f"wrk saw errors: {result['errors']} (is the key right?)")
                return int(result["requests"])
        raise RuntimeError(f"wrk gave no result line: {out[-300:]}")


class Floor(Checkout):
    """bench/floor.py, the bare forwarder (no auth, no ledger), run with this checkout's .venv: what this
    machine charges for the forwarding alone, in the same runs."""

    def __init__(self, work: Path, port: int) -> None:
        super().__init__(HERE.parent, work, port)
        self.name = "floor (bench/floor.py)"

    def prepare(self) -> None:
        self.pristine.mkdir(parents=True, exist_ok=True)

    def command(self, app: str = "floor:app") -> tuple[list[str], dict]:
        argv, env = super().command(app)
        return [*argv, "--app-dir", str(HERE)], {**env, "FLOOR_UPSTREAM": UPSTREAM}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--roots", default=str(HERE.parent), help="comma-separated checkouts, each with its .venv")
    p.add_argument("--conns", type=int, default=1, help="wrk connections (1)")
    p.add_argument("--duration", type=int, default=5, help="s per run (5)")
    p.add_argument("--runs", type=int, default=3, help="runs per checkout (3)")
    p.add_argument("--mode", choices=("nonstream", "stream"), default="nonstream")
    p.add_argument("--port", type=int, default=18921)
    p.add_argument(
        "--floor", action="store_true", help="also run bench/floor.py, the bare forwarder (the bench extra)"
    )
    args = p.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        upstream_count(CHAT.port)
    except OSError:
        print("the fake upstream is not running: ../shared/bench/upstream.sh start", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="gateway-cpu-"))
    roots = [Path(r).resolve() for r in args.roots.split(",") if r]
    checkouts = [Checkout(root, work, args.port) for root in roots]
    if args.floor:
        checkouts.append(Floor(work / "floor", args.port))
    try:
        for checkout in checkouts:
            checkout.prepare()
        print(f"{args.mode}, {args.conns} connection(s), {args.duration} s runs; CPU µs per request")
        print(f"{'checkout':40} {'loop':>7} {'threads':>8} {'writer':>7} {'total':>7} {'requests':>9}")
        results: dict[str, list[dict]] = {checkout.name: [] for checkout in checkouts}
        for number in range(args.runs):
            for checkout in checkouts:
                figures = checkout.measure(args, work / f"{checkout.root.name}-{number}.log")
                results[checkout.name].append(figures)
                line = " ".join(f"{figures[k]:7.1f}" for k in ("loop", "threads", "writer", "total"))
                print(f"{checkout.name[-40:]:40} {line} {figures['requests']:9}", flush=True)
                time.sleep(1)
        print("medians:")
        for name, runs in results.items():
            line = " ".join(
                f"{statistics.median(r[k] for r in runs):7.1f}"
                for k in ("loop", "threads", "writer", "total")
            )
            print(f"{name[-40:]:40} {line}")
    finally:
        Proc.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
