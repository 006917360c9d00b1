"""The README's screenshots: the home and spend pages, light and dark, on `manage.py serve --demo` data.

    .venv/bin/python docs/screenshots.py
        starts the demo in a fresh temporary data dir on a free port, logs in as the admin user it prints,
        saves docs/images/{home,spend}-{light,dark}.png and stops the demo;
    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8000 --password '...'
        uses a demo already running there (its admin password is printed once, at its first start).

It needs the test extras (`pip install -e '.[test]'`: Playwright) and Debian's chromium (`apt-get install
chromium`); no browser is downloaded. The dark pictures emulate `prefers-color-scheme: dark`, which the pages
follow when no theme was chosen with the toggle. Each picture must stay under 300 KB (the README loads them
all): the script stops with an error naming any that does not.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTH = 1280
# Each page's path, and the height that shows it down to its chart (spend) or its last card (home).
PAGES = {"home": ("/", 700), "spend": ("/spend/?range=30d", 920)}
SCHEMES = ("light", "dark")
MAX_BYTES = 300 * 1024
START_SECONDS = 300  # a first demo start migrates, loads the catalogue and seeds 2 000 requests
PASSWORD_LINE = re.compile(r"log in as\s+admin / (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, demo: subprocess.Popen | None, deadline: float) -> None:
    while time.monotonic() < deadline:
        if demo is not None and demo.poll() is not None:
            raise SystemExit(f"the demo stopped (exit code {demo.returncode}) before it served {url}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {START_SECONDS} s")


def echo(stream) -> None:
    for line in stream:
        print(f"  demo | {line.rstrip()}")


def start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    """`serve --demo` in its own process group (stopped as Ctrl-C would), and the admin password it prints."""
    environment = {**os.environ, "TOKENLEDGER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(  # noqa: S603 - this checkout's manage.py
        [sys.executable, str(ROOT / "manage.py"), "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    for line in demo.stdout:
        print(f"  demo | {line.rstrip()}")
        if match := PASSWORD_LINE.search(line):
            # Keep reading what it prints, or its processes block once the pipe is full.
            threading.Thread(target=echo, args=(demo.stdout,), daemon=True).start()
            return demo, match.group(1)
    raise SystemExit(f"the demo stopped (exit code {demo.wait()}) without printing the admin password")


def stop_demo(demo: subprocess.Popen) -> None:
    os.killpg(demo.pid, signal.SIGINT)
    try:
        demo.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()


def take(url: str, password: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for scheme in SCHEMES:
            context = browser.new_context(viewport={"width": WIDTH, "height": 900}, color_scheme=scheme)
            page = context.new_page()
            page.goto(f"{url}/login/")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda address: "/login/" not in address)
            for name, (path, height) in PAGES.items():
                page.set_viewport_size({"width": WIDTH, "height": height})
                page.goto(f"{url}{path}")
                page.wait_for_load_state("networkidle")
                if page.locator("canvas").count():  # the chart scripts mark what they drew
                    page.wait_for_function("() => document.querySelector('canvas').dataset.drawn !== '0'")
                target = IMAGES / f"{name}-{scheme}.png"
                page.screenshot(path=str(target))
                saved.append(target)
            context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a demo already running (default: start one)")
    parser.add_argument("--password", help="the admin password of the demo at --url")
    args = parser.parse_args()
    if bool(args.url) != bool(args.password):
        parser.error("--url and --password go together")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    IMAGES.mkdir(parents=True, exist_ok=True)
    if args.url:
        url = args.url.rstrip("/")
        wait_until_up(url, None, time.monotonic() + 10)
        saved = take(url, args.password)
    else:
        with tempfile.TemporaryDirectory(prefix="tokenledger-screenshots-") as scratch:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            demo, password = start_demo(Path(scratch) / "data", port)
            try:
                wait_until_up(url, demo, time.monotonic() + START_SECONDS)
                saved = take(url, password)
            finally:
                stop_demo(demo)
    too_big = []
    for path in saved:
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}: {size / 1024:.0f} KB")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        raise SystemExit(f"over {MAX_BYTES // 1024} KB: {', '.join(too_big)} (make WIDTH or PAGES smaller)")


if __name__ == "__main__":
    main()
