"""A chart's figures as a plain table: what a page shows in the chart's place when JavaScript is off
(templates/_chart.html renders it inside <noscript>, under a note)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ChartRow:
    label: str  # the point on the chart's x axis: a day, an hour, a moment
    values: tuple[Decimal | str | None, ...]  # one per series, in the order of ChartTable.head[1:]


@dataclass(frozen=True, slots=True)
class ChartTable:
    caption: str
    head: tuple[str, ...]  # the x axis' column, then one per series
    rows: tuple[ChartRow, ...]
    money: bool  # values are USD amounts, shown by the money filter (None as "—"); else text as it is
