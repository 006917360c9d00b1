/* Cost rules the pages' scripts share, one function each, mirroring usage/costs.py
 * (tests/browser/test_cost_rules_js.py feeds the Python and the JS function the same cases).
 * Costs are decimal strings as the pages send them (never floats), or null when unknown.
 */
(function () {
  "use strict";

  // usage.costs.spent_cost: what a request cost as budgets and spend pages count it, the reported cost,
  // else ours (a reported 0 is a cost: only a missing one falls back).
  function spentCost(reported, computed) {
    if (reported === null || reported === undefined) return computed === undefined ? null : computed;
    return reported;
  }

  window.TokenledgerCosts = Object.freeze({ spentCost });
})();
