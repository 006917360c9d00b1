"""Figures and target checks for bench/gateway_targets.py (standard library only).

A *record* is one measured wrk run (one round of one line). A *line* is what the table shows: one
(proxy, db, key, mode, conns), its figures as the median of the rounds with their spread (min–max).
The targets are issue 13's: they compare a Tokenledger line with the direct baseline, Portkey and LiteLLM
lines of the same run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

FIGURES = ("rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "cpu_ms_per_req", "upstream")
PROXY_ORDER = ("direct", "tokenledger", "portkey", "litellm")

# Issue 13, "Targets".
C1_P99_OVER_DIRECT_MS = 3.0
C1_P999_MS = 15.0
C32_P99_OVER_P50 = 4.0
CPU_MS = {("nonstream", 1): 0.5, ("stream", 1): 0.6, ("nonstream", 32): 0.4, ("stream", 32): 0.4}
RPS_OVER_LITELLM = 25.0
RPS_OVER_PORTKEY = 2.0


@dataclass(frozen=True, slots=True)
class LineKey:
    proxy: str  # direct, tokenledger, portkey, litellm
    db: str  # sqlite, postgres, "-"
    key: str  # plain, limited, "-"
    mode: str  # nonstream, stream
    conns: int

    def sort_key(self) -> tuple:
        def rank(value: str, order: tuple[str, ...]) -> int:
            return order.index(value) if value in order else len(order)

        return (
            rank(self.mode, ("nonstream", "stream")),
            self.conns,
            rank(self.proxy, PROXY_ORDER),
            rank(self.db, ("sqlite", "postgres")),
            rank(self.key, ("plain", "limited")),
        )


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float


@dataclass(slots=True)
class Line:
    key: LineKey
    rounds: int = 0
    failed: int = 0  # rounds without figures (smoke check or wrk failed)
    errors: int = 0  # wrk errors, summed over the rounds
    figures: dict[str, Spread] = field(default_factory=dict)
    checks: list[tuple[str, bool | None]] = field(default_factory=list)  # (text, passed; None = n/a)

    def get(self, name: str) -> float | None:
        spread = self.figures.get(name)
        return None if spread is None else spread.median


def spread(values: list[float]) -> Spread | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return Spread(statistics.median(values), min(values), max(values))


def build_lines(records: list[dict]) -> list[Line]:
    """One line per (proxy, db, key, mode, conns), figures as median and spread over its rounds."""
    grouped: dict[LineKey, list[dict]] = {}
    for record in records:
        key = LineKey(record["proxy"], record["db"], record["key"], record["mode"], record["conns"])
        grouped.setdefault(key, []).append(record)
    lines = []
    for key in sorted(grouped, key=LineKey.sort_key):
        runs = grouped[key]
        ok = [r for r in runs if r.get("ok")]
        line = Line(key, rounds=len(runs), failed=len(runs) - len(ok), errors=sum(r["errors"] for r in ok))
        for name in FIGURES:
            value = spread([r.get(name) for r in ok])
            if value is not None:
                line.figures[name] = value
        lines.append(line)
    return lines


def _find(lines: list[Line], proxy: str, mode: str, conns: int) -> Line | None:
    for line in lines:
        if line.key.proxy == proxy and line.key.mode == mode and line.key.conns == conns and line.figures:
            return line
    return None


def _check(text: str, value: float | None, limit: float | None) -> tuple[str, bool | None]:
    if value is None or limit is None:
        return (f"{text}: n/a", None)
    return (f"{text}: {_num(value)} ≤ {_num(limit)}", value <= limit)


def check_targets(lines: list[Line]) -> None:
    """Fill each Tokenledger line's checks against the other lines of the same run."""
    for line in lines:
        k = line.key
        if k.proxy != "tokenledger":
            continue
        if not line.figures:
            line.checks.append(("no figures", False))
            continue
        if k.conns == 1:
            direct = _find(lines, "direct", k.mode, 1)
            limit = None if direct is None else direct.get("p99_ms") + C1_P99_OVER_DIRECT_MS
            line.checks.append(_check("p99 ≤ direct+3", line.get("p99_ms"), limit))
            line.checks.append(_check("p99.9 ≤ 15", line.get("p999_ms"), C1_P999_MS))
        else:
            p50 = line.get("p50_ms")
            line.checks.append(_check("p99 ≤ 4×p50", line.get("p99_ms"), p50 and p50 * C32_P99_OVER_P50))
            portkey = _find(lines, "portkey", k.mode, k.conns)
            line.checks.append(_check("p99 ≤ Portkey", line.get("p99_ms"), portkey and portkey.get("p99_ms")))
        cpu_limit = CPU_MS.get((k.mode, min(k.conns, 32)))
        line.checks.append(_check("CPU", line.get("cpu_ms_per_req"), cpu_limit))
        if k.conns >= 32:
            for anchor, factor in (("litellm", RPS_OVER_LITELLM), ("portkey", RPS_OVER_PORTKEY)):
                other = _find(lines, anchor, k.mode, k.conns)
                if other is None or not other.get("rps"):
                    line.checks.append((f"RPS ≥ {factor:g}× {anchor}: n/a", None))
                    continue
                ratio = line.get("rps") / other.get("rps")
                line.checks.append((f"RPS = {ratio:.1f}× {anchor} (≥ {factor:g})", ratio >= factor))
        if line.errors:
            line.checks.append((f"{line.errors} errors", False))
        if line.failed:
            line.checks.append((f"{line.failed} rounds failed", False))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", " ")
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(line: Line, name: str) -> str:
    value = line.figures.get(name)
    if value is None:
        return "-"
    show = _count if name == "upstream" else _num
    if value.low == value.high or line.rounds - line.failed < 2:
        return show(value.median)
    return f"{show(value.median)} ({show(value.low)}–{show(value.high)})"


def _count(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def _verdict(line: Line) -> str:
    if line.key.proxy != "tokenledger":
        return ""
    parts = []
    for text, passed in line.checks:
        mark = "–" if passed is None else ("✓" if passed else "✗")
        parts.append(f"{mark} {text}")
    return "; ".join(parts)


def markdown_table(lines: list[Line]) -> str:
    head = (
        "| proxy | db | key | mode | conns | RPS | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU ms/req "
        "| errors | upstream | targets |"
    )
    out = [head, "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for line in lines:
        k = line.key
        cells = [k.proxy, k.db, k.key, k.mode, str(k.conns)]
        cells += [_cell(line, name) for name in FIGURES]
        cells.insert(11, str(line.errors) + (f" ({line.failed} failed)" if line.failed else ""))
        cells.append(_verdict(line))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def ledger_table(ledger: list[dict]) -> str:
    out = ["| config | round | upstream counted | new ledger rows | graceful stop | check |"]
    out.append("|---|--:|--:|--:|---|---|")
    for item in ledger:
        same = item["matched"]
        out.append(
            f"| {item['config']} | {item['round']} | {item['upstream']} | {item['rows']} "
            f"| {'yes' if item['graceful'] else 'no'} | {'✓ rows match upstream' if same else '✗ MISMATCH'} |"
        )
    return "\n".join(out)


def tally(lines: list[Line], ledger: list[dict]) -> tuple[int, int]:
    """(passed, failed) over every target check and ledger check; n/a checks are not counted."""
    results = [passed for line in lines for _, passed in line.checks if passed is not None]
    results += [item["matched"] for item in ledger]
    return sum(1 for r in results if r), sum(1 for r in results if not r)


def line_as_json(line: Line) -> dict:
    k = line.key
    return {
        "proxy": k.proxy,
        "db": k.db,
        "key": k.key,
        "mode": k.mode,
        "conns": k.conns,
        "rounds": line.rounds,
        "failed_rounds": line.failed,
        "errors": line.errors,
        "figures": {
            name: {"median": s.median, "min": s.low, "max": s.high} for name, s in line.figures.items()
        },
        "checks": [{"check": text, "passed": passed} for text, passed in line.checks],
    }
