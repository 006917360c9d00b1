"""The fake OpenRouter that gateway, sync and browser tests rely on, through the openai SDK and httpx."""

import httpx
import openai
import pytest

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(fake_openrouter):
    return openai.OpenAI(base_url=fake_openrouter.url, api_key="x", max_retries=0)


def test_it_serves_a_scripted_reply_then_the_default(fake_openrouter, client):
    fake_openrouter.reply(text="<script>alert(1)</script>", cached_tokens=3)
    first = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    second = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert first.choices[0].message.content == "<script>alert(1)</script>"
    assert first.usage.prompt_tokens_details.cached_tokens == 3
    assert second.choices[0].message.content == "Hello from the fake OpenRouter."
    assert fake_openrouter.last.json == {"model": "openai/gpt-4o-mini", "messages": MESSAGES}


def test_it_streams_chunks_and_a_final_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="a/b", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello from the fake OpenRouter."
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 8


def test_it_answers_errors_in_openrouters_shape(fake_openrouter, client):
    fake_openrouter.reply(status=429)
    with pytest.raises(openai.RateLimitError, match="Rate limit exceeded"):
        client.chat.completions.create(model="a/b", messages=MESSAGES)


def test_it_serves_the_models_snapshot(fake_openrouter):
    assert len(httpx.get(fake_openrouter.url + "/models").json()["data"]) == 414


def test_it_counts_a_slow_stream_its_client_left(fake_openrouter):
    fake_openrouter.reply(chunks=10, chunk_delay=0.3)
    body = {"model": "a/b", "stream": True}
    with httpx.stream("POST", fake_openrouter.url + "/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if "content" in line:
                break
    assert fake_openrouter.wait_closed_early(1)
