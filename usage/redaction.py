"""Credentials taken out of captured bodies before they are stored (docs/gateway.md, "Capture").

Two rules: a JSON member whose name says it holds a credential (`authorization`, `api_key`, `password`...)
has its string value replaced; and in every string (and in a body that is not JSON) the values that look
like credentials are replaced, keeping what kind they were: header-style `Authorization: [Bearer] <x>`,
`x-api-key: <x>`, `api_key=<x>`, `password: <x>`; `Bearer <x>` / `Basic <x>` anywhere with <x> of 16
characters or more; OpenAI/OpenRouter/Anthropic `sk-…` keys, ours (`tl-…`, and the playground's
`tlpg_…` tokens), AWS access key ids, GitHub, Slack and Google API tokens, and PEM private keys.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Member names (lower case, "-" as "_") whose string values are credentials whatever they look like.
SECRET_NAMES = frozenset(
    {"authorization", "proxy_authorization", "api_key", "apikey", "x_api_key", "password", "passwd"}
    | {"secret", "client_secret", "secret_key", "access_token", "refresh_token", "id_token", "session_token"}
    | {"private_key", "token"}
)

# (pattern, replacement), applied in this order.
PATTERNS = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        "[REDACTED PRIVATE KEY]",
    ),
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|x-api-key|api[_-]?key|password|client[_-]?secret|secret[_-]?key"
            r"|access[_-]?token)([\"']?\s*[:=]\s*[\"']?)((?:bearer|basic|token)\s+)?(?!\[REDACTED)([^\s\"',;}]+)"
        ),
        rf"\1\2\3{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]{16,}"), rf"\1\2{REDACTED}"),
    (re.compile(r"\btlpg_[A-Za-z0-9_:.-]{16,}"), f"tlpg_{REDACTED}"),
    (re.compile(r"\btl-[A-Za-z0-9_-]{16,}"), f"tl-{REDACTED}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), f"sk-{REDACTED}"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), f"AKIA{REDACTED}"),
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{30,}"), rf"\1{REDACTED}"),
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{30,}"), rf"\1{REDACTED}"),
    (re.compile(r"\b(xox[abprs]-)[A-Za-z0-9-]{10,}"), rf"\1{REDACTED}"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), f"AIza{REDACTED}"),
)
# A quick look first: most strings hold none of these, and skip the patterns.
HINTS = re.compile(
    r"(?i)PRIVATE KEY|bearer|basic|authorization|api[_-]?key|password|secret|sk-|tl-|tlpg_|AKIA|ASIA"
    r"|gh[pousr]_|github_pat_|xox|AIza"
)


def redact_text(text: str) -> str:
    """`text` with every value that looks like a credential replaced."""
    if not HINTS.search(text):
        return text
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """A parsed JSON value with credentials replaced: by member name, and in every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, dict):
        return {
            name: REDACTED
            if isinstance(item, str) and name.lower().replace("-", "_") in SECRET_NAMES
            else redact_value(item)
            for name, item in value.items()
        }
    return value
