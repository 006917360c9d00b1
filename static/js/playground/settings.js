/* The settings column: the model pickers (search, compare mode), the system prompt and the parameters a
 * chosen model supports. Its choices live in the store's state. */

// The parameters the page offers, each shown when a chosen model lists it in supported_parameters.
export const NUMERIC = ["temperature", "max_tokens", "top_p", "top_k", "frequency_penalty", "presence_penalty",
  "repetition_penalty", "min_p", "seed"];
const INTEGER = new Set(["max_tokens", "top_k", "seed"]);

export function createSettings(config, store) {
  const { state } = store;
  const $ = (id) => document.getElementById(id);
  const modelsById = new Map(config.models.map((m) => [m.id, m]));
  const aliasesById = new Map((config.aliases || []).map((a) => [a.id, a]));
  const slots = Array.from(document.querySelectorAll("select.pg-model"));
  const slotLabels = Array.from(document.querySelectorAll(".pg-model-slot"));
  const els = { search: $("pg-search"), compare: $("pg-compare"), info: $("pg-model-info"), system: $("pg-system"),
    reasoning: $("pg-reasoning"), stop: $("pg-stop-seq") };

  // The models to ask: [{slot, model}], one, or up to three in compare mode.
  function activeModels() {
    const chosen = [];
    for (let i = 0; i < (state.compare ? 3 : 1); i++) {
      if (slots[i].value) chosen.push({ slot: i, model: slots[i].value });
    }
    return chosen;
  }

  function readParams() {
    const params = {};
    for (const name of NUMERIC) {
      const raw = $("pg-" + name).value.trim();
      if (raw === "") continue;
      const value = INTEGER.has(name) ? parseInt(raw, 10) : parseFloat(raw);
      if (Number.isFinite(value)) params[name] = value;
    }
    if (els.stop.value) params.stop = els.stop.value;
    if (els.reasoning.value) params.reasoning = { effort: els.reasoning.value };
    return params;
  }

  function supports(model, name) {
    const meta = modelsById.get(model);
    if (!meta || !meta.parameters.length) return true; // unknown: let the gateway / upstream decide
    if (name === "reasoning") return meta.reasoning;
    return meta.parameters.includes(name);
  }

  function describe(id) {
    const model = modelsById.get(id);
    if (model) {
      const parts = [];
      if (model.context_length) parts.push("context " + model.context_length.toLocaleString("en-US"));
      parts.push(model.prompt_per_m === null ? "variable price" :
        "$" + model.prompt_per_m + "/M in · $" + model.completion_per_m + "/M out");
      return parts.join(" · ");
    }
    const alias = aliasesById.get(id);
    return alias ? "alias, " + alias.strategy + ": " + alias.members.join(", ") : "";
  }

  function sync() {
    state.compare = els.compare.checked;
    slotLabels.forEach((label, i) => { label.hidden = i > 0 && !state.compare; });
    state.models = slots.map((s) => s.value);
    const models = activeModels().map((a) => a.model);
    document.querySelectorAll("[data-param]").forEach((label) => {
      label.hidden = !models.some((m) => supports(m, label.dataset.param));
    });
    els.info.textContent = describe(models[0]);
    state.system = els.system.value;
    state.params = readParams();
    store.save();
  }

  function apply() {
    // "Open in playground" on a model page: ?model=<id> picks the first model (the conversation stays).
    const linked = new URLSearchParams(window.location.search).get("model");
    if (linked && Array.from(slots[0].options).some((o) => o.value === linked)) state.models[0] = linked;
    slots.forEach((select, i) => {
      const wanted = state.models[i];
      if (wanted && Array.from(select.options).some((o) => o.value === wanted)) select.value = wanted;
    });
    els.compare.checked = !!state.compare;
    els.system.value = state.system || "";
    const params = state.params || {};
    for (const name of NUMERIC) $("pg-" + name).value = params[name] === undefined ? "" : params[name];
    els.stop.value = typeof params.stop === "string" ? params.stop : "";
    els.reasoning.value = params.reasoning ? params.reasoning.effort : "";
    sync();
  }

  function filterModels() {
    const needle = els.search.value.trim().toLowerCase();
    slots.forEach((select, i) => {
      let firstMatch = null;
      for (const option of select.options) {
        if (!option.value) continue;
        const match = needle === "" || option.textContent.toLowerCase().includes(needle);
        option.hidden = !match;
        if (match && !firstMatch) firstMatch = option;
      }
      const current = select.selectedOptions[0];
      if (current && current.hidden) {
        // The first picker follows the search; the compare pickers keep their choice visible.
        if (i === 0 && firstMatch) select.value = firstMatch.value;
        else current.hidden = false;
      }
    });
    sync();
  }

  els.search.addEventListener("input", filterModels);
  els.compare.addEventListener("change", sync);
  els.system.addEventListener("change", sync);
  slots.forEach((select) => select.addEventListener("change", sync));
  document.querySelectorAll(".pg-params input, .pg-params select")
    .forEach((input) => input.addEventListener("change", sync));

  return { activeModels, readParams, supports, sync, apply };
}
