// The compare page's calculator: recomputes every model's cost as you type, exactly (BigInt, no float),
// with the same rules and rounding as the server: the effective prices of catalog/price_schedule.py (the
// input tokens per request pick the tier, time windows at the server's UTC minute), then
// catalog/pricing.py scenario_cost, shown as every page shows money (static/js/money.js).
import { fromUnits, money, toUnits } from "./money.js";

function calculator() {
  const source = document.getElementById("calculator-prices");
  const form = document.getElementById("compare");
  if (!source || !form) return;
  const data = JSON.parse(source.textContent);
  const minute = data.minute; // of the UTC day, when the page was made
  const atto = (text) => toUnits(text); // prices arrive as decimal strings in USD; computed in 1e-18 USD units

  // An override applies when all its conditions match: prompt tokens strictly above its bound, the minute
  // in its [start, end) window (which wraps past midnight when start > end). One it cannot read never does.
  function applies(o, input) {
    if (o.never) return false;
    if (o.above !== null && !(input > BigInt(o.above))) return false;
    if (o.window !== null) {
      const [start, end] = o.window;
      return start <= end ? start <= minute && minute < end : minute >= start || minute < end;
    }
    return true;
  }

  // The effective prices (later overrides win per key; keys an override lacks keep the base price).
  function effective(model, input) {
    const prices = { ...model.base };
    for (const o of model.overrides) if (applies(o, input)) Object.assign(prices, o.prices);
    return {
      prompt: atto(prices.prompt),
      completion: atto(prices.completion),
      cacheRead: atto(prices.input_cache_read),
      cacheWrite: atto(prices.input_cache_write),
      reasoning: atto(prices.internal_reasoning),
      request: atto(prices.request) || 0n,
    };
  }

  function integer(name, min, max) {
    const input = form.elements[name];
    const text = input ? input.value.trim() : "";
    if (!/^\d+$/.test(text)) return null;
    const value = BigInt(text);
    if (value < BigInt(min) || (max !== undefined && value > BigInt(max))) return null;
    return value;
  }

  const orBase = (price, base) => (price !== null && price > 0n ? price : base);

  // Cost in 1e-20 USD (atto-dollars × 100, so that the percentages stay exact).
  function cost(model, s) {
    const p = effective(model, s.input);
    if (p.prompt === null || p.completion === null) return null;
    const perRequest =
      s.input * (100n - s.cached - s.written) * p.prompt +
      s.input * s.cached * orBase(p.cacheRead, p.prompt) +
      s.input * s.written * orBase(p.cacheWrite, p.prompt) +
      100n *
        ((s.output - s.reasoning) * p.completion + s.reasoning * orBase(p.reasoning, p.completion) + p.request);
    return perRequest * s.requests;
  }

  // Shown like the server (catalog.money): "$0.0025", "$1.50".
  const usd = (units) => money(fromUnits(units, 20));

  function update() {
    const s = {
      input: integer("input_tokens", 0),
      output: integer("output_tokens", 0),
      cached: integer("cached_percent", 0, 100),
      written: integer("cache_write_percent", 0, 100),
      reasoning: integer("reasoning_tokens", 0),
      requests: integer("requests", 1),
    };
    const valid =
      Object.values(s).every((v) => v !== null) && s.cached + s.written <= 100n && s.reasoning <= s.output;
    const costs = data.models.map((m) => (valid ? cost(m, s) : null));
    const known = costs.filter((c) => c !== null);
    const min = known.length ? known.reduce((a, b) => (b < a ? b : a)) : null;
    const allSame = known.every((c) => c === min);
    costs.forEach((c, i) => {
      const cell = document.querySelector(`[data-cost-for="${i}"]`);
      if (!cell) return;
      if (!valid) cell.textContent = "—";
      else cell.textContent = c === null ? "variable" : usd(c);
      cell.classList.toggle("cheapest", valid && c !== null && !allSame && c === min);
    });
  }

  form.querySelectorAll("[data-calc]").forEach((input) => input.addEventListener("input", update));
}
calculator();
