"""GET the OpenRouter Models API: explicit timeouts, attribution headers, retries with backoff on 429/5xx.

Settings (environment variables, see .env.example): CATALOG_FETCH_ATTEMPTS (3),
CATALOG_FETCH_BACKOFF_SECONDS (1.0, doubled each retry; a Retry-After header wins, up to 60 s),
CATALOG_FETCH_TIMEOUT_SECONDS (30).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from django.conf import settings

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_RETRY_AFTER_SECONDS = 60.0


class FetchError(RuntimeError):
    """The listing could not be fetched; the message says why (for `sync failed: <reason>`)."""


def request_headers() -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        "HTTP-Referer": settings.OPENROUTER_REFERER,
        "X-Title": settings.OPENROUTER_TITLE,
    }
    if settings.OPENROUTER_API_KEY:
        headers["Authorization"] = f"Bearer {settings.OPENROUTER_API_KEY}"
    return headers


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def fetch_models(
    *,
    url: str,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """The response body of GET url, or FetchError after the configured attempts."""
    attempts = settings.CATALOG_FETCH_ATTEMPTS
    backoff = settings.CATALOG_FETCH_BACKOFF_SECONDS
    timeout_seconds = settings.CATALOG_FETCH_TIMEOUT_SECONDS
    timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
    problem = ""
    with httpx.Client(
        transport=transport, timeout=timeout, headers=request_headers(), follow_redirects=True
    ) as client:
        for attempt in range(1, attempts + 1):
            wait = backoff * 2 ** (attempt - 1)
            try:
                with client.stream("GET", url) as response:
                    if response.status_code == 429 or response.status_code >= 500:
                        problem = f"HTTP {response.status_code} {response.reason_phrase} from {url}"
                        wait = _retry_after(response) if _retry_after(response) is not None else wait
                    elif response.status_code != 200:
                        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase} from {url}")
                    else:
                        return _read(response, url)
            except httpx.UnsupportedProtocol:
                raise FetchError(f"not an http(s) URL: {url!r}") from None
            except httpx.TimeoutException:
                problem = f"timed out after {timeout_seconds:g} s waiting for {url}"
            except httpx.TransportError as exc:
                problem = f"cannot reach {url}: {exc or type(exc).__name__}"
            except httpx.InvalidURL as exc:
                raise FetchError(f"invalid URL {url!r}: {exc}") from None
            if attempt < attempts:
                sleep(wait)
    raise FetchError(f"{problem} ({attempts} attempt{'s' if attempts > 1 else ''})")


def _read(response: httpx.Response, url: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise FetchError(f"the response from {url} is larger than {MAX_BODY_BYTES // 2**20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)
