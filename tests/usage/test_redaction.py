"""The redactor of captured bodies (usage/redaction.py): exact strings in, exact strings out."""

import pytest

from usage.redaction import redact_text, redact_value

OUR_SECRET = "tl-" + "Ab3_-" * 8 + "xyz"  # "tl-" and 43 URL-safe characters, as api_key_create makes them


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "Authorization: Bearer sk-or-v1-abcdef0123456789abcdef",
            "Authorization: Bearer [REDACTED]",
        ),
        ("Authorization: Bearer short1", "Authorization: Bearer [REDACTED]"),
        ("proxy-authorization: Basic dXNlcjpwYXNz", "proxy-authorization: Basic [REDACTED]"),
        (
            "curl -H 'Authorization: Bearer abc.def' https://x",
            "curl -H 'Authorization: Bearer [REDACTED]' https://x",
        ),
        ('{"Authorization": "Bearer abc"}', '{"Authorization": "Bearer [REDACTED]"}'),
        ("x-api-key: abc123secret", "x-api-key: [REDACTED]"),
        ("api_key=abc123, next", "api_key=[REDACTED], next"),
        ("password=hunter2 and more", "password=[REDACTED] and more"),
        ("my key is sk-proj-AbCdEf0123456789XyZ ok", "my key is sk-[REDACTED] ok"),
        ("sk-ant-api03-AAAAAAAAAAAAAAAAAAAA", "sk-[REDACTED]"),
        (f"ours: {OUR_SECRET}.", "ours: tl-[REDACTED]."),
        ("token tlpg_abc.def-ghijklmnopqrstu", "token tlpg_[REDACTED]"),
        ("Basic dXNlcjpwYXNzd29yZDEyMzQ=", "Basic [REDACTED]"),
        ("use AKIAABCDEFGHIJKLMNOP now", "use AKIA[REDACTED] now"),
        ("token ghp_" + "a" * 36, "token ghp_[REDACTED]"),
        ("xoxb-1234567890-abcdef", "xoxb-[REDACTED]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[REDACTED PRIVATE KEY]"),
    ],
)
def test_it_redacts_what_looks_like_a_credential(text, redacted):
    assert redact_text(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "the basic approach and the bearer instrument are fine",
        "task-abcdefghijklmnopqrstuvwx stays",  # "sk-" inside a word
        "tl-dr: short",  # our prefix, but no secret's length
        "sk-short",
        "Explain what an API key is.",
    ],
)
def test_it_leaves_ordinary_text_alone(text):
    assert redact_text(text) == text


def test_json_members_named_as_credentials_and_every_string_are_redacted():
    body = {
        "api_key": "abc",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "k", "Accept": "text/plain"},
        "max_tokens": 5,
        "token": 7,  # not a string: kept
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"key {OUR_SECRET} here"}]}],
    }

    assert redact_value(body) == {
        "api_key": "[REDACTED]",
        "headers": {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]", "Accept": "text/plain"},
        "max_tokens": 5,
        "token": 7,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "key tl-[REDACTED] here"}]}],
    }
