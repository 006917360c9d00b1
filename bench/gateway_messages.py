#!/usr/bin/env python3
"""The fake OpenRouter /messages upstream and the smoke check of a Messages answer, for
`bench/gateway_targets.py --endpoint messages` (standard library only).

    python3 bench/gateway_messages.py start|stop|status            # the fake, on 127.0.0.1:18081
    python3 bench/gateway_messages.py smoke URL KEY MODEL STREAM   # one request, checked (STREAM=1: a stream)

The fake is nginx with bench/nginx-messages.conf (the counterpart of ../shared/bench/nginx.conf, which serves
only chat), run as `nginx -c bench/nginx-messages.conf -p /tmp/bench-nginx-messages/` (the prefix:
BENCH_MESSAGES_PREFIX) like ../shared/bench/upstream.sh runs the shared one; `stop` signals only the master
whose pid is in the prefix's logs/nginx.pid. The smoke check is the counterpart of ../shared/bench/report.py
smoke: the request wrk/messages.lua sends, and a well-formed `message`, or stream of events from
message_start to message_stop, with text and usage.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONF = HERE / "nginx-messages.conf"
PORT = 18081
BASE = f"http://127.0.0.1:{PORT}"
PREFIX = Path(os.environ.get("BENCH_MESSAGES_PREFIX", "/tmp/bench-nginx-messages"))
LUA_MODULE = Path("/usr/lib/nginx/modules/ngx_http_lua_module.so")


# --------------------------------------------------------------------------------------------- the fake
def missing() -> str | None:
    """What the fake needs and this machine lacks, with how to get it."""
    if not shutil.which("nginx"):
        return "nginx not installed: apt-get install -y nginx libnginx-mod-http-lua"
    if not LUA_MODULE.exists():
        return "nginx's lua module not installed: apt-get install -y libnginx-mod-http-lua"
    return None


def get(path: str) -> tuple[int, str]:
    """(status, body) of a GET to the fake; OSError when it does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    except http.client.HTTPException as exc:
        raise OSError(f"the /messages fake answered garbage: {exc!r}") from exc
    finally:
        conn.close()


def running_pid() -> int | None:
    try:
        pid = int((PREFIX / "logs" / "nginx.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start() -> str:
    """Start the fake (nothing when it runs already); RuntimeError when it does not come up."""
    pid = running_pid()
    if pid is not None:
        return f"/messages fake already running (nginx master pid {pid})"
    problem = missing()
    if problem:
        raise RuntimeError(problem)
    (PREFIX / "logs").mkdir(parents=True, exist_ok=True)
    (PREFIX / "tmp").mkdir(exist_ok=True)
    nginx = ["nginx", "-c", str(CONF), "-p", f"{PREFIX}/", "-e", str(PREFIX / "logs" / "error.log")]
    for argv in ([*nginx, "-t", "-q"], nginx):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if get("/api/v1/models")[0] == 200:
                return f"/messages fake started (nginx master pid {running_pid()}) on 127.0.0.1:{PORT}"
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the /messages fake did not come up; see {PREFIX / 'logs' / 'error.log'}")


def stop() -> str:
    """Stop the fake's nginx master (by the pid in its prefix): gracefully, then for good after 5 s."""
    pid = running_pid()
    if pid is None:
        return "/messages fake not running"
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and running_pid() == pid:
        time.sleep(0.1)
    if running_pid() == pid:
        os.kill(pid, signal.SIGTERM)
    return f"/messages fake stopped (pid {pid})"


# --------------------------------------------------------------------------------------------- smoke
def request_body(model: str, stream: bool) -> dict:
    """What wrk/messages.lua sends."""
    body = {
        "model": model,
        "max_tokens": 64,
        "system": "You are a concise assistant.",
        "messages": [{"role": "user", "content": "In one sentence, what does a reverse proxy do?"}],
        "temperature": 0.2,
    }
    if stream:
        body["stream"] = True
    return body


def _usage_problems(usage, where: str) -> list[str]:
    if not isinstance(usage, dict):
        return [f"no usage in {where}"]
    counts = [usage.get(name) for name in ("input_tokens", "output_tokens")]
    if not all(type(value) is int and value > 0 for value in counts):
        return [f"{where} usage without input_tokens and output_tokens: {usage}"]
    return []


def check_message(text: str) -> tuple[str, list[str]]:
    """(what it held, problems) of a JSON `message`."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        return "", [f"bad JSON body: {exc}: {text[:300]!r}"]
    if not isinstance(message, dict) or message.get("type") != "message":
        return "", [f"not a message: {text[:300]!r}"]
    blocks = message.get("content") if isinstance(message.get("content"), list) else []
    content = "".join(b.get("text") or "" for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    usage = message.get("usage")
    problems = ([] if content else ["no text block"]) + _usage_problems(usage, "the message's")
    return f"content {len(content)} chars, usage {usage}", problems


def check_stream(text: str) -> tuple[str, list[str]]:
    """(what it held, problems) of a Messages stream: `event: <type>` / `data: {"type": <type>...}` blocks
    from message_start to message_stop, text deltas, and message_delta's usage."""
    kinds, content, usage, problems = [], "", None, []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "data" not in lines:
            continue
        try:
            data = json.loads(lines["data"])
        except ValueError as exc:
            problems.append(f"bad event data {lines['data'][:120]!r}: {exc}")
            break
        kinds.append(data.get("type"))
        if lines.get("event") != data.get("type"):
            problems.append(f"event {lines.get('event')!r} carries data of type {data.get('type')!r}")
        if data.get("type") == "content_block_delta":
            content += (data.get("delta") or {}).get("text") or ""
        elif data.get("type") == "message_delta":
            usage = data.get("usage")
        elif data.get("type") == "error":
            problems.append(f"error event: {data.get('error')}")
    if not kinds or kinds[0] != "message_start" or kinds[-1] != "message_stop":
        problems.append(f"events do not run from message_start to message_stop: {kinds[:3]}…{kinds[-2:]}")
    if not content:
        problems.append("no text delta")
    problems += _usage_problems(usage, "message_delta's")
    deltas = kinds.count("content_block_delta")
    return f"{len(kinds)} events ({deltas} deltas), content {len(content)} chars, usage {usage}", problems


def smoke(url: str, key: str, model: str, stream: bool) -> tuple[bool, str]:
    """One request through `url`, as wrk sends it; (ok, one line saying what came back)."""
    parts = urllib.parse.urlsplit(url)
    headers = {
        "Content-Type": "application/json",
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    mode = "stream" if stream else "nonstream"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
    started = time.perf_counter()
    try:
        conn.request("POST", parts.path, body=json.dumps(request_body(model, stream)), headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return False, f"FAIL: {mode} {url}: {exc!r}"
    finally:
        conn.close()
    ms = (time.perf_counter() - started) * 1000
    ctype = resp.getheader("Content-Type", "")
    if resp.status != 200:
        info, problems = "", [f"HTTP {resp.status}: {text[:300]!r}"]
    elif stream:
        info, problems = check_stream(text)
        if "text/event-stream" not in ctype:
            problems.append(f"Content-Type {ctype!r}")
    else:
        info, problems = check_message(text)
    line = f"{mode} {url} -> HTTP {resp.status} {ctype or '-'} in {ms:.1f} ms; {info}"
    if problems:
        return False, f"FAIL: {line}; {'; '.join(problems)}"
    return True, f"ok: {line}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["smoke"] and len(argv) == 5:
        ok, line = smoke(argv[1], argv[2], argv[3], argv[4] == "1")
        print(line)
        return 0 if ok else 1
    if argv in (["start"], ["stop"], ["status"]):
        try:
            if argv[0] == "status":
                pid = running_pid()
                print(f"running: nginx master pid {pid}, {get('/_bench/stats')[1]}" if pid else "not running")
                return 0 if pid else 1
            print(start() if argv[0] == "start" else stop())
            return 0
        except (RuntimeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
