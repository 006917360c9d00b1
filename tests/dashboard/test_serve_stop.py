"""`manage.py serve` stops cleanly on Ctrl-C: no ForkPoolWorker killed by SIGTERM, no SIGKILL after 5 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, free_port


def test_ctrl_c_stops_every_process_cleanly(tmp_path):
    environment = {**os.environ, "TOKENLEDGER_DATA_DIR": str(tmp_path), "OPENROUTER_API_KEY": "sk-or-x"}
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "CELERY_BROKER_URL"):
        environment.pop(name, None)
    serve = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--no-catalogue", "--port", str(free_port())],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    lines = []
    try:
        deadline = time.monotonic() + 90
        ready = {"web": False, "worker": False}
        while not all(ready.values()) and time.monotonic() < deadline:
            line = serve.stdout.readline()
            if not line:
                break
            lines.append(line)
            ready["web"] |= "Uvicorn running on" in line
            ready["worker"] |= "celery@" in line and "ready." in line
        assert all(ready.values()), "".join(lines)
        started = time.monotonic()
        os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group gets SIGINT
        rest, _ = serve.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert "SIGINT received" in output
    assert "ForkPoolWorker" not in output
    assert "SIGKILL" not in output
    assert "Traceback" not in output
    assert "No hostname was supplied" not in output
    assert stopped_in < 20, output
