"""Read a Models API payload into typed entries, validating all of it before anything is written.

Accepts the response body (bytes / str) or the decoded JSON, in either shape found in the wild:
`{"data": [...]}` (the API) or a bare array (`jq '.data'` dumps). Any problem raises PayloadError with a
message a person can act on; nothing is half-read.

Prices are USD per unit as strings; "-1" means "variable" (stored as None, never negative); a category
missing or null is 0. Categories without a column of their own go to `extra`, unknown fields are kept in
`raw`, so schema drift never fails a sync.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from catalog.models import PRICE, PRICE_FIELDS
from catalog.numbers import as_decimal

REQUIRED_PRICES = ("prompt", "completion")
QUANTUM = Decimal(1).scaleb(-PRICE["decimal_places"])  # what a price column stores
PRICE_LIMIT = Decimal(10) ** (PRICE["max_digits"] - PRICE["decimal_places"])
DISCOUNT_QUANTUM = Decimal("0.000001")
VARIABLE = Decimal(-1)
ZERO = Decimal(0)
MODEL_ID_MAX = 200
READER_VERSION = 1  # bump when _model_fields reads the listing differently


class PayloadError(ValueError):
    """The payload cannot be applied; the message says why."""


@dataclass
class Entry:
    """One model of a listing, ready to write."""

    model_id: str
    fields: dict[str, Any]  # CatalogModel columns (without model_id / first_seen / last_seen / retired_at)
    prices: dict[str, Decimal | None]  # every PRICE_FIELDS column; None = variable
    discount: Decimal
    extra: dict[str, Any]  # other categories: decimal string, None (variable) or the value as received
    overrides: Any  # tiered prices, as received
    listing_hash: str
    signature: tuple = field(repr=False, default=())


def price_signature(
    *, prices: dict[str, Decimal | None], extra: dict[str, Any], discount: Decimal, overrides: Any
) -> tuple:
    """What "the prices changed" compares: non-zero categories as exact Decimals (missing = 0), the
    discount, and the overrides. Built the same way from a listing entry and from a stored PriceVersion."""
    items: list[tuple[str, str]] = []
    for name, value in list(prices.items()) + list(extra.items()):
        if value is None:
            items.append((name, "variable"))
            continue
        number = as_decimal(value)
        if number is None:  # not a price: compare as received
            items.append((name, json.dumps(value, sort_keys=True)))
        elif number != ZERO:
            items.append((name, "variable" if number == VARIABLE else str(number.normalize())))
    if discount:
        items.append(("discount", str(Decimal(discount).normalize())))
    if overrides:
        items.append(("overrides", json.dumps(overrides, sort_keys=True, default=str)))
    return tuple(sorted(items))


def price_display(
    *, prices: dict[str, Decimal | None], extra: dict[str, Any], discount: Decimal
) -> dict[str, str | None]:
    """The non-zero categories as {name: "0.000001" | None (variable)}: SyncRun.changes old/new."""
    shown: dict[str, str | None] = {}
    for name, value in list(prices.items()) + list(extra.items()):
        if value is None:
            shown[name] = None
            continue
        number = as_decimal(value)
        if number is not None and number != ZERO:
            shown[name] = None if number == VARIABLE else format(number.normalize(), "f")
    if discount:
        shown["discount"] = format(Decimal(discount).normalize(), "f")
    return shown


def parse_payload(payload: bytes | str | dict | list) -> list[Entry]:
    """All entries of a payload, or PayloadError for the first problem found."""
    data = _decode(payload)
    if isinstance(data, dict):
        if "data" not in data:
            raise PayloadError('the payload has no "data" list (keys: ' + ", ".join(sorted(data)[:8]) + ")")
        data = data["data"]
    if not isinstance(data, list):
        raise PayloadError(f'"data" is not a list but {_json_type(data)}')
    if not data:
        raise PayloadError("the listing has no models: refusing to retire the whole catalogue")
    entries: list[Entry] = []
    seen: set[str] = set()
    for position, item in enumerate(data):
        entry = _entry(item, position)
        if entry.model_id in seen:
            raise PayloadError(f"model id {entry.model_id!r} appears twice")
        seen.add(entry.model_id)
        entries.append(entry)
    return entries


def _decode(payload: bytes | str | dict | list) -> Any:
    if isinstance(payload, dict | list):
        return payload
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = payload.strip()
    if not text:
        raise PayloadError("the body is empty")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        start = " ".join(text[:40].split())
        if text.startswith("<"):
            raise PayloadError(f"the body is HTML, not JSON: {start!r}") from None
        if exc.pos >= len(text) - 1:
            raise PayloadError(f"the body is cut short: its JSON ends after {len(text)} characters") from None
        raise PayloadError(
            f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


def _no_constant(name: str) -> None:
    raise PayloadError(f"the body is not valid JSON ({name} is not a JSON number)")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _price(model_id: str, name: str, value: Any, *, quantum: Decimal = QUANTUM) -> Decimal | None:
    """A column price: None for variable ("-1"), else a non-negative Decimal that fits the column."""
    number = as_decimal(value)
    if number is None:
        raise PayloadError(f"model {model_id!r}: price {name!r} is not a decimal number: {value!r}")
    if number == VARIABLE:
        return None
    if number < 0:
        raise PayloadError(f"model {model_id!r}: price {name!r} is negative: {value!r}")
    if number >= PRICE_LIMIT:
        raise PayloadError(f"model {model_id!r}: price {name!r} is too large: {value!r}")
    return number.quantize(quantum)


def _entry(item: Any, position: int) -> Entry:
    if not isinstance(item, dict):
        raise PayloadError(f"model #{position + 1} is {_json_type(item)}, not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise PayloadError(f"model #{position + 1} has no id")
    model_id = model_id.strip()
    if len(model_id) > MODEL_ID_MAX:
        raise PayloadError(f"model #{position + 1} has an id longer than {MODEL_ID_MAX} characters")
    if "\x00" in model_id:
        raise PayloadError(f"model #{position + 1} has a NUL character in its id")
    if "\\u0000" in json.dumps(item):
        item = _without_nul(item)  # PostgreSQL stores no NUL character, in text or JSON
    pricing = item.get("pricing")
    if not isinstance(pricing, dict):
        raise PayloadError(f"model {model_id!r} has no pricing")

    prices: dict[str, Decimal | None] = {}
    for name in PRICE_FIELDS:
        value = pricing.get(name)
        if value is None:
            if name in REQUIRED_PRICES:
                raise PayloadError(f"model {model_id!r}: price {name!r} is missing")
            prices[name] = ZERO.quantize(QUANTUM)
        else:
            prices[name] = _price(model_id, name, value)
    discount_raw = pricing.get("discount")
    discount = (
        ZERO if discount_raw is None else _price(model_id, "discount", discount_raw, quantum=DISCOUNT_QUANTUM)
    )
    if discount is None or discount > 1:
        raise PayloadError(f"model {model_id!r}: discount is not between 0 and 1: {discount_raw!r}")
    extra: dict[str, Any] = {}
    for name, value in pricing.items():
        if name in PRICE_FIELDS or name in ("discount", "overrides") or value is None:
            continue
        number = as_decimal(value)
        if number is None:
            extra[name] = value  # an unknown kind of value: kept as received
        elif number == VARIABLE:
            extra[name] = None
        elif number < 0:
            raise PayloadError(f"model {model_id!r}: price {name!r} is negative: {value!r}")
        else:
            extra[name] = format(number, "f")
    overrides = pricing.get("overrides") or []

    return Entry(
        model_id=model_id,
        fields=_model_fields(model_id, item),
        prices=prices,
        discount=discount,
        extra=extra,
        overrides=overrides,
        listing_hash=listing_hash(item),
        signature=price_signature(prices=prices, extra=extra, discount=discount, overrides=overrides),
    )


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def listing_hash(item: dict) -> str:
    """sha256 of an entry as received (keys sorted) and of the reader's version: a sync skips entries whose
    hash it stored last time; a new READER_VERSION makes the next sync re-read every model."""
    text = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{READER_VERSION}\n{text}".encode()).hexdigest()


def _text(value: Any, limit: int | None = None) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:limit] if limit else text


def _count(value: Any) -> int | None:
    """A non-negative integer (context lengths, token limits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 2**63 else None


def _strings(value: Any) -> list:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _created(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _model_fields(model_id: str, item: dict) -> dict[str, Any]:
    arch = item.get("architecture") if isinstance(item.get("architecture"), dict) else {}
    top = item.get("top_provider") if isinstance(item.get("top_provider"), dict) else {}
    default_parameters = item.get("default_parameters")
    per_request_limits = item.get("per_request_limits")
    return {
        "canonical_slug": _text(item.get("canonical_slug"), 200),
        "hugging_face_id": _text(item.get("hugging_face_id"), 200),
        "name": _text(item.get("name"), 300),
        "author": model_id.lstrip("~").split("/", 1)[0][:100],
        "description": _text(item.get("description")),
        "context_length": _count(item.get("context_length")),
        "modality": _text(arch.get("modality"), 100),
        "input_modalities": _strings(arch.get("input_modalities")),
        "output_modalities": _strings(arch.get("output_modalities")),
        "tokenizer": _text(arch.get("tokenizer"), 100),
        "instruct_type": _text(arch.get("instruct_type"), 100),
        "supported_parameters": _strings(item.get("supported_parameters")),
        "default_parameters": default_parameters if isinstance(default_parameters, dict) else {},
        "top_provider": top,
        "max_completion_tokens": _count(top.get("max_completion_tokens")),
        "per_request_limits": per_request_limits if isinstance(per_request_limits, dict) else None,
        "created": _created(item.get("created")),
        "expiration_date": _date(item.get("expiration_date")),
        "knowledge_cutoff": _text(item.get("knowledge_cutoff"), 40),
        "raw": item,
    }
