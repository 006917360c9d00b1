// The compare page's calculator: recomputes every model's cost as you type, exactly (BigInt, no float),
// with the same rules and rounding as the server (catalog/pricing.py scenario_cost, usd_cost).
(function () {
  "use strict";
  const source = document.getElementById("calculator-prices");
  const form = document.getElementById("compare");
  if (!source || !form) return;
  const models = JSON.parse(source.textContent);
  const ATTO = 18; // prices arrive as decimal strings in USD; computed in 1e-18 USD units

  function atto(text) {
    if (text === null || text === undefined) return null;
    const [whole, frac = ""] = String(text).split(".");
    return BigInt(whole || "0") * 10n ** BigInt(ATTO) + BigInt((frac + "0".repeat(ATTO)).slice(0, ATTO) || "0");
  }
  const prices = models.map((m) => ({
    prompt: atto(m.prompt),
    completion: atto(m.completion),
    cacheRead: atto(m.input_cache_read),
    reasoning: atto(m.internal_reasoning),
    request: atto(m.request) || 0n,
  }));

  function integer(name, min, max) {
    const input = form.elements[name];
    const text = input ? input.value.trim() : "";
    if (!/^\d+$/.test(text)) return null;
    const value = BigInt(text);
    if (value < BigInt(min) || (max !== undefined && value > BigInt(max))) return null;
    return value;
  }

  // Cost in 1e-20 USD (atto-dollars × 100, so that the cached percentage stays exact).
  function cost(p, s) {
    if (p.prompt === null || p.completion === null) return null;
    const cacheRead = p.cacheRead !== null && p.cacheRead > 0n ? p.cacheRead : p.prompt;
    const reasoning = p.reasoning !== null && p.reasoning > 0n ? p.reasoning : p.completion;
    const perRequest =
      s.input * (100n - s.pct) * p.prompt +
      s.input * s.pct * cacheRead +
      100n * (s.output * p.completion + s.reasoning * reasoning + p.request);
    return perRequest * s.requests;
  }

  // Rounded half up to the micro-dollar (1e-6 USD = 1e14 units), shown like the server: "$0.0025", "$1.50".
  function usd(units) {
    const micro = (units + 50000000000000n) / 100000000000000n;
    const whole = micro / 1000000n;
    let frac = (micro % 1000000n).toString().padStart(6, "0").replace(/0+$/, "");
    if (frac.length < 2) frac = frac.padEnd(2, "0");
    return `$${whole}.${frac}`;
  }

  function update() {
    const s = {
      input: integer("input_tokens", 0),
      output: integer("output_tokens", 0),
      pct: integer("cached_percent", 0, 100),
      reasoning: integer("reasoning_tokens", 0),
      requests: integer("requests", 1),
    };
    const valid = Object.values(s).every((v) => v !== null);
    const costs = prices.map((p) => (valid ? cost(p, s) : null));
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
})();
