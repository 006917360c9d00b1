// Money on the pages: one reader of decimal strings and one way to show an amount, mirroring catalog/money.py
// (tests/browser/test_money_js.py feeds both the same cases). Exact: decimal strings and BigInt, never floats.
//
// - toUnits("0.0153") -> 15300000000000000n, BigInt units of 1e-18 USD (or of 10^-scale); null if unreadable;
// - fromUnits(units) -> "0.0153", the exact decimal string back;
// - money("0.0000186") -> "$0.0000186": below $1 three significant digits (trailing zeros dropped down to
//   cents), from $1 on cents with thousands separators, rounded half away from zero; null -> "n/a".

export const SCALE = 18;

export function toUnits(text, scale = SCALE) {
  if (text === null || text === undefined || text === "") return null;
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match || (!match[2] && !match[3])) return null;
  const frac = (match[3] || "").slice(0, scale).padEnd(scale, "0");
  const units = BigInt((match[2] || "0") + frac);
  return match[1] ? -units : units;
}

export function fromUnits(units, scale = SCALE) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, -scale) || "0";
  const frac = scale ? digits.slice(-scale).replace(/0+$/, "") : "";
  return (negative && units !== 0n ? "-" : "") + whole + (frac ? "." + frac : "");
}

// Divide by 10^drop, rounding half up (on a non-negative number).
function roundDown(value, drop) {
  if (drop <= 0) return value * 10n ** BigInt(-drop);
  const unit = 10n ** BigInt(drop);
  const quotient = value / unit;
  return (value % unit) * 2n >= unit ? quotient + 1n : quotient;
}

function cents(value, scale) {
  const total = roundDown(value, scale - 2);
  const whole = (total / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return whole + "." + (total % 100n).toString().padStart(2, "0");
}

export function money(text) {
  if (text === null || text === undefined || text === "") return "n/a";
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match) return "n/a";
  const frac = match[3] || "";
  const scale = frac.length;
  const value = BigInt((match[2] || "0") + frac);
  const sign = match[1] && value !== 0n ? "-" : "";
  const one = 10n ** BigInt(scale);
  if (value === 0n) return "$0.00";
  if (value >= one) return sign + "$" + cents(value, scale);
  const digits = value.toString().length; // significant digits of the fraction
  const keep = scale - digits + 3; // decimals that hold three significant digits
  const rounded = roundDown(value, scale - keep);
  if (rounded >= 10n ** BigInt(keep)) return sign + "$1.00"; // 0.9996 rounds up to a dollar
  const shown = rounded.toString().padStart(keep, "0").replace(/0+$/, "").padEnd(2, "0");
  return sign + "$0." + shown;
}

// A chart axis tick (a float from Chart.js, e.g. 0.30000000000000004) as money: "$0.30".
export function axisMoney(value) {
  return money(Number(value).toFixed(12));
}
