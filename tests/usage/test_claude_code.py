"""Claude Code itself through the gateway: `claude -p "say hi"` with ANTHROPIC_BASE_URL at our /api and one of
our keys as its auth token, against the fake OpenRouter; the printed reply and the ledger rows.

Claude Code is installed once, pinned (CLAUDE_CODE_VERSION), into TOKENLEDGER_TOOLS_DIR (default .tools/ in
the checkout) with npm; .ci/run installs Node.js, npm and that version, and sets
TOKENLEDGER_REQUIRE_CLAUDE_CODE=1 so that CI fails rather than skips when it is missing.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from catalog.models import CatalogModel
from tests.fakes.openrouter import Reply
from tests.usage.gateway_data import make_catalogue

CLAUDE_CODE_VERSION = "2.1.160"  # the last versions before 2.1.180 run on Node.js 18 and 20
ROOT = Path(__file__).resolve().parents[2]
MODEL = "anthropic/claude-sonnet-4"
SMALL = "openai/gpt-4o-mini"


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    folder = (
        Path(os.environ.get("TOKENLEDGER_TOOLS_DIR") or ROOT / ".tools")
        / f"claude-code-{CLAUDE_CODE_VERSION}"
    )
    binary = folder / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            if os.environ.get("TOKENLEDGER_REQUIRE_CLAUDE_CODE"):
                pytest.fail("Claude Code's test needs node and npm (.ci/run installs them)")
            pytest.skip("node / npm not installed")
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder)]
            + [f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"],
            check=True,
            timeout=600,
        )
    return binary


@pytest.fixture
def catalogue(transactional_db):
    versions = make_catalogue()
    CatalogModel.objects.filter(model_id=MODEL).update(canonical_slug="anthropic/claude-sonnet-4-20250514")
    return versions


def test_claude_code_says_hi_through_the_gateway(
    gateway_server, catalogue, make_api_key, claude_bin, tmp_path
):
    secret = make_api_key(name="claude code")
    gateway_server.fake.default = Reply(text="Hi from the fake Claude!")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": f"{gateway_server.url}/api",
        "ANTHROPIC_AUTH_TOKEN": secret,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_SMALL_FAST_MODEL": SMALL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": SMALL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CI": "1",
    }

    done = subprocess.run(
        [str(claude_bin), "-p", "say hi", "--model", MODEL],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hi from the fake Claude!"
    received = [r for r in gateway_server.fake.requests if r.method == "POST"]
    assert received, "Claude Code sent nothing upstream"
    assert {r.path for r in received} == {"/api/v1/messages"}
    assert all(r.query == "beta=true" for r in received)
    assert {r.json["model"] for r in received} <= {MODEL, SMALL}
    main = [r for r in received if r.json["model"] == MODEL]
    assert main and "say hi" in str(main[-1].json["messages"])
    rows = gateway_server.ledger(len(received))
    assert len(rows) == len(received)
    for row, request in zip(rows, received, strict=True):
        assert (row.endpoint, row.status, row.http_status) == ("messages", "ok", 200)
        assert row.requested_model == request.json["model"]
        assert (row.prompt_tokens, row.completion_tokens) == (12, 8)
        assert row.stream == (request.json.get("stream") is True)
        assert row.computed_cost is not None
        assert row.api_key.name == "claude code"
