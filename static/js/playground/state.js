/* The conversation and settings, kept in this browser's localStorage, and what the conversation spent.
 *
 * Spent cost: reported, else computed (static/js/costs.js, the server's rule, as /spend/ and /keys/ count it);
 * the total adds every reply the conversation paid for, retried ones included, as exact BigInt units.
 */
import { toUnits } from "../money.js";

// What one ledger row spent, as a decimal string (null when unknown).
export function spent(row) {
  return window.TokenledgerCosts.spentCost(row.reported_cost, row.computed_cost);
}

export function createStore(storageKey, onError) {
  const state = { system: "", turns: [], models: ["", "", ""], compare: false, params: {} };

  function save() {
    try {
      localStorage.setItem(storageKey, JSON.stringify(state));
    } catch (err) {
      onError("Could not save the conversation in this browser: " + err.message);
    }
  }

  function load() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(storageKey) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || !Array.isArray(saved.turns) || !Array.isArray(saved.models)) return;
    Object.assign(state, saved);
    for (const turn of state.turns) {
      for (const reply of turn.replies || []) {
        if (reply.status === "streaming") reply.status = "cancelled"; // the page was closed mid-stream
      }
    }
  }

  return { state, save, load };
}

// The conversation's spent cost, exact: [BigInt units of 1e-18 USD, replies counted].
export function conversationTotal(turns) {
  let total = 0n;
  let replies = 0;
  for (const turn of turns) {
    for (const reply of turn.replies || []) {
      for (const row of [...(reply.retried || []), reply.ledger]) {
        const units = row ? toUnits(spent(row)) : null;
        if (units !== null) {
          total += units;
          replies += 1;
        }
      }
    }
  }
  return [total, replies];
}
