/* Playground: stream chat replies from our own gateway, show what each one cost.
 *
 * - Auth: a short-lived `tlpg_` token from the page (POST token_url), never a key's secret.
 * - Streaming: fetch + ReadableStream, parsing Server-Sent Events by hand; Stop aborts the fetch
 *   (the gateway sees the disconnect and records the ledger row as cancelled).
 * - Costs: each reply's ledger row is fetched by generation id (tokens, computed and reported cost);
 *   a reply shows its spent cost (reported, else computed: static/js/costs.js, the server's rule), as
 *   /spend/ and /keys/ show it (static/js/money.js); the total adds them up as BigInt units of 1e-18 USD.
 * - Model output is untrusted: it only ever reaches the page through textContent.
 */
import { fromUnits, money, toUnits } from "./money.js";

function playground() {
  const config = JSON.parse(document.getElementById("playground-config").textContent);
  const modelsById = new Map(config.models.map((m) => [m.id, m]));
  const aliasesById = new Map((config.aliases || []).map((a) => [a.id, a]));
  const $ = (id) => document.getElementById(id);
  const els = {
    key: $("pg-key"), search: $("pg-search"), compare: $("pg-compare"), info: $("pg-model-info"),
    system: $("pg-system"), reasoning: $("pg-reasoning"), conversation: $("pg-conversation"),
    empty: $("pg-empty"), form: $("pg-form"), prompt: $("pg-prompt"), send: $("pg-send"), stop: $("pg-stop"),
    status: $("pg-status"), total: $("pg-total"), code: $("pg-code"),
  };
  const slots = Array.from(document.querySelectorAll("select.pg-model"));
  const slotLabels = Array.from(document.querySelectorAll(".pg-model-slot"));
  // The parameters the page offers, each shown when a chosen model lists it in supported_parameters.
  const NUMERIC = ["temperature", "max_tokens", "top_p", "top_k", "frequency_penalty", "presence_penalty",
    "repetition_penalty", "min_p", "seed"];
  const INTEGER = new Set(["max_tokens", "top_k", "seed"]);
  const SDK_NATIVE = new Set(["temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "seed", "stop"]);

  let state = { system: "", turns: [], models: [slots[0].value, "", ""], compare: false, params: {} };
  let tokenCache = null; // {choice (the key select's value), token, expiresAt (ms)}
  const controllers = new Set();
  const replyViews = new Map(); // reply object -> its DOM nodes (kept out of the saved state)

  const { spentCost } = window.TokenledgerCosts; // static/js/costs.js: usage.costs.spent_cost's rule

  // ---- persistence ---------------------------------------------------------------------------------
  function save() {
    try {
      localStorage.setItem(config.storage_key, JSON.stringify(state));
    } catch (err) {
      setStatus("Could not save the conversation in this browser: " + err.message, true);
    }
  }
  function load() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(config.storage_key) || "null");
    } catch (err) {
      saved = null;
    }
    if (!saved || !Array.isArray(saved.turns) || !Array.isArray(saved.models)) return;
    state = Object.assign(state, saved);
    for (const turn of state.turns) {
      for (const reply of turn.replies || []) {
        if (reply.status === "streaming") reply.status = "cancelled"; // the page was closed mid-stream
      }
    }
  }

  // ---- settings --------------------------------------------------------------------------------------
  function activeModels() {
    const count = state.compare ? 3 : 1;
    const chosen = [];
    for (let i = 0; i < count; i++) {
      const id = slots[i].value;
      if (id) chosen.push({ slot: i, model: id });
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
    const stop = $("pg-stop-seq").value;
    if (stop) params.stop = stop;
    if (els.reasoning.value) params.reasoning = { effort: els.reasoning.value };
    return params;
  }
  function supports(model, name) {
    const meta = modelsById.get(model);
    if (!meta || !meta.parameters.length) return true; // unknown: let the gateway / upstream decide
    if (name === "reasoning") return meta.reasoning;
    return meta.parameters.includes(name);
  }
  function syncSettingsView() {
    state.compare = els.compare.checked;
    slotLabels.forEach((label, i) => { label.hidden = i > 0 && !state.compare; });
    state.models = slots.map((s) => s.value);
    const models = activeModels().map((a) => a.model);
    document.querySelectorAll("[data-param]").forEach((label) => {
      label.hidden = !models.some((m) => supports(m, label.dataset.param));
    });
    const first = modelsById.get(models[0]);
    if (first) {
      const parts = [];
      if (first.context_length) parts.push("context " + first.context_length.toLocaleString("en-US"));
      parts.push(first.prompt_per_m === null ? "variable price" :
        "$" + first.prompt_per_m + "/M in · $" + first.completion_per_m + "/M out");
      els.info.textContent = parts.join(" · ");
    } else if (aliasesById.has(models[0])) {
      const alias = aliasesById.get(models[0]);
      els.info.textContent = "alias, " + alias.strategy + ": " + alias.members.join(", ");
    } else {
      els.info.textContent = "";
    }
    state.system = els.system.value;
    state.params = readParams();
    save();
  }
  function applyStateToForm() {
    slots.forEach((select, i) => {
      const wanted = state.models[i];
      if (wanted && Array.from(select.options).some((o) => o.value === wanted)) select.value = wanted;
    });
    els.compare.checked = !!state.compare;
    els.system.value = state.system || "";
    const params = state.params || {};
    for (const name of NUMERIC) $("pg-" + name).value = params[name] === undefined ? "" : params[name];
    $("pg-stop-seq").value = typeof params.stop === "string" ? params.stop : "";
    els.reasoning.value = params.reasoning ? params.reasoning.effort : "";
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
    syncSettingsView();
  }

  // ---- requests ------------------------------------------------------------------------------------
  function messagesFor(slot, turns, prompt) {
    const messages = [];
    if (state.system.trim()) messages.push({ role: "system", content: state.system });
    for (const turn of turns) {
      messages.push({ role: "user", content: turn.user });
      const reply = (turn.replies || []).find((r) => r.slot === slot);
      if (reply && reply.content) messages.push({ role: "assistant", content: reply.content });
    }
    messages.push({ role: "user", content: prompt });
    return messages;
  }
  function requestBody(model, slot, turns, prompt) {
    const body = { model: model, messages: messagesFor(slot, turns, prompt), stream: true };
    for (const [name, value] of Object.entries(readParams())) {
      if (supports(model, name)) body[name] = value;
    }
    return body;
  }
  async function getToken() {
    const choice = els.key.value;
    if (tokenCache && tokenCache.choice === choice && Date.now() < tokenCache.expiresAt) return tokenCache.token;
    const form = new FormData();
    form.append("key", choice);
    form.append("csrfmiddlewaretoken", els.form.querySelector("[name=csrfmiddlewaretoken]").value);
    const res = await fetch(config.token_url, { method: "POST", body: form, credentials: "same-origin" });
    const data = await res.json().catch(() => ({}));
    if (res.redirected || res.status === 403 || (res.ok && !data.token)) {
      throw new Error("Your session has ended: reload the page to log in again.");
    }
    if (!res.ok) throw new Error((data.error && data.error.message) || "Could not get a playground token (" + res.status + ").");
    tokenCache = { choice: choice, token: data.token, expiresAt: Date.now() + (data.expires_in - 60) * 1000 };
    if (choice === "playground") {
      // The playground key exists now: select it by id from here on.
      const option = document.createElement("option");
      option.value = String(data.key.id);
      option.textContent = data.key.name + " (" + data.key.prefix + "…)";
      els.key.querySelector("option[value=playground]").replaceWith(option);
      els.key.value = option.value;
      tokenCache.choice = option.value;
    }
    return tokenCache.token;
  }
  function describeError(status, body, headers) {
    const error = (body && body.error) || {};
    let message = error.message || (typeof body === "string" && body.slice(0, 300)) || "no message";
    const meta = error.metadata || {};
    if (meta.provider_name) message += " (provider: " + meta.provider_name + ")";
    if (meta.raw && typeof meta.raw === "string" && meta.raw !== error.message) message += " — " + meta.raw;
    const titles = {
      400: "Bad request", 401: "Key refused", 402: "Budget spent", 403: "Not allowed", 404: "Not found",
      408: "Timed out", 413: "Too large", 429: "Rate limited", 500: "Server error", 502: "Upstream error",
      503: "Upstream unavailable", 504: "Upstream timeout",
    };
    let text = (titles[status] || "Error") + " (" + status + "): " + message;
    const retry = headers && headers.get("Retry-After");
    if (status === 429 && retry) text += " Retry after " + retry + " s.";
    return text;
  }
  function* sseEvents(buffer) {
    // Yields {data, end} for each complete event in buffer (data null for comments such as ": OPENROUTER PROCESSING").
    let start = 0;
    const boundary = /\r?\n\r?\n/g;
    let match;
    while ((match = boundary.exec(buffer)) !== null) {
      const block = buffer.slice(start, match.index);
      start = match.index + match[0].length;
      const data = block.split(/\r?\n/).filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
      yield { data: data || null, end: start };
    }
  }

  async function streamReply(reply, body, token) {
    const controller = new AbortController();
    controllers.add(controller);
    const started = performance.now();
    const view = replyViews.get(reply);
    reply.request = body;
    try {
      const res = await fetch(config.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      reply.generation_id = res.headers.get("X-Generation-Id") || "";
      if (!res.ok) {
        const text = await res.text();
        let parsed = text;
        try { parsed = JSON.parse(text); } catch (err) { /* not JSON: keep the text */ }
        if (res.status === 401) tokenCache = null;
        reply.status = "error";
        reply.error = describeError(res.status, parsed, res.headers);
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let done = false;
      while (!done) {
        const chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        let consumed = 0;
        for (const event of sseEvents(buffer)) {
          consumed = event.end;
          if (event.data === null) continue;
          if (event.data === "[DONE]") { done = true; break; }
          let json;
          try { json = JSON.parse(event.data); } catch (err) { continue; }
          handleChunk(reply, json, started, view);
        }
        buffer = buffer.slice(consumed);
      }
      if (reply.status === "streaming") reply.status = "ok";
    } catch (err) {
      if (err.name === "AbortError") {
        reply.status = "cancelled";
      } else {
        reply.status = "error";
        reply.error = "Network error: " + err.message;
      }
    } finally {
      controllers.delete(controller);
      reply.client = { latency_ms: Math.round(performance.now() - started), ttft_ms: reply.client_ttft_ms ?? null };
      renderReply(reply);
      save();
    }
    await fetchLedgerRow(reply);
  }
  function handleChunk(reply, json, started, view) {
    if (json.id && !reply.generation_id) reply.generation_id = json.id;
    if (json.error) {
      reply.status = "error";
      reply.error = describeError(json.error.code || 500, json, null);
      renderReply(reply);
      return;
    }
    if (json.usage) reply.usage = json.usage;
    const choice = (json.choices || [])[0];
    const delta = (choice && choice.delta) || {};
    if (delta.reasoning || delta.content) {
      if (reply.client_ttft_ms === undefined) reply.client_ttft_ms = Math.round(performance.now() - started);
    }
    if (delta.reasoning) {
      reply.reasoning = (reply.reasoning || "") + delta.reasoning;
      view.reasoning.hidden = false;
      view.reasoningText.textContent = reply.reasoning;
    }
    if (delta.content) {
      reply.content += delta.content;
      reply.chunks = (reply.chunks || 0) + 1;
      view.text.textContent = reply.content;
      view.box.dataset.chunks = String(reply.chunks);
    }
  }
  async function fetchLedgerRow(reply) {
    if (!reply.generation_id) { renderReply(reply); return; }
    const url = config.ledger_url + "?generation_id=" + encodeURIComponent(reply.generation_id);
    for (let attempt = 0; attempt < 40; attempt++) {
      const res = await fetch(url, { credentials: "same-origin" }).catch(() => null);
      if (res && res.ok) {
        reply.ledger = await res.json();
        // A stopped stream is recorded when the gateway notices the disconnect: wait for its final state.
        if (reply.status !== "cancelled" || reply.ledger.status !== "ok") break;
      } else if (res && res.status !== 404) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, attempt < 10 ? 150 : 500));
    }
    renderReply(reply);
    renderTotal();
    save();
  }

  // ---- rendering -----------------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function renderTurn(turn) {
    els.empty.hidden = true;
    const box = el("div", "pg-turn");
    box.append(el("div", "pg-msg pg-user", turn.user));
    const replies = el("div", "pg-replies");
    replies.style.setProperty("--cols", String(Math.max(1, turn.replies.length)));
    for (const reply of turn.replies) {
      const card = el("article", "pg-msg pg-reply");
      card.dataset.model = reply.model;
      const head = el("header", "pg-reply-head");
      head.append(el("span", "mono", reply.model), el("span", "badge pg-state"));
      const reasoning = el("details", "pg-reasoning");
      reasoning.append(el("summary", null, "Reasoning"));
      const reasoningText = el("div", "pg-reasoning-text");
      reasoning.append(reasoningText);
      reasoning.hidden = !reply.reasoning;
      reasoningText.textContent = reply.reasoning || "";
      const text = el("div", "pg-text", reply.content || "");
      const error = el("p", "pg-error error");
      const stats = el("div", "pg-stats muted");
      card.append(head, reasoning, text, error, stats);
      replies.append(card);
      replyViews.set(reply, { box: card, text: text, reasoning: reasoning, reasoningText: reasoningText, error: error, stats: stats, state: head.lastChild });
      renderReply(reply);
    }
    box.append(replies);
    els.conversation.append(box);
    box.scrollIntoView({ block: "end" });
  }
  function stat(name, label, value) {
    const span = el("span", "pg-stat");
    span.dataset.stat = name;
    span.textContent = label + " " + value;
    return span;
  }
  function renderReply(reply) {
    const view = replyViews.get(reply);
    if (!view) return;
    view.box.dataset.status = reply.status;
    view.state.textContent = reply.status === "streaming" ? "streaming…" : reply.status;
    view.state.className = "badge pg-state " + (reply.status === "ok" ? "ok" : reply.status);
    view.text.textContent = reply.content || "";
    view.error.textContent = reply.error || "";
    view.error.hidden = !reply.error;
    const row = reply.ledger;
    const usage = reply.usage || {};
    const parts = [];
    if (row || reply.usage) {
      const src = row || {
        prompt_tokens: usage.prompt_tokens || 0,
        cached_tokens: (usage.prompt_tokens_details || {}).cached_tokens || 0,
        completion_tokens: usage.completion_tokens || 0,
        reasoning_tokens: (usage.completion_tokens_details || {}).reasoning_tokens || 0,
      };
      parts.push(stat("prompt", "prompt", src.prompt_tokens), stat("cached", "cached", src.cached_tokens),
        stat("output", "output", src.completion_tokens), stat("reasoning", "reasoning", src.reasoning_tokens));
    }
    if (row) {
      // What the reply spent, as the spend and keys pages count and show it; ours beside it.
      const cost = stat("cost", "cost", money(spentCost(row.reported_cost, row.computed_cost)));
      cost.title = "reported " + (row.reported_cost === null ? "n/a" : "$" + row.reported_cost) +
        " · computed " + (row.computed_cost === null ? "n/a" : "$" + row.computed_cost);
      parts.push(cost, stat("computed", "computed", money(row.computed_cost)));
    } else if (reply.status !== "streaming" && reply.generation_id) {
      parts.push(stat("cost", "cost", "…"));
    }
    if (reply.client) {
      // Measured in this browser; the gateway's own figures (what the ledger keeps) in the tooltip.
      const latency = stat("latency", "latency", reply.client.latency_ms + " ms");
      if (row) latency.title = "gateway: " + row.latency_ms + " ms";
      parts.push(latency);
      if (reply.client.ttft_ms !== null && reply.client.ttft_ms !== undefined) {
        const ttft = stat("ttft", "TTFT", reply.client.ttft_ms + " ms");
        if (row && row.ttft_ms !== null) ttft.title = "gateway: " + row.ttft_ms + " ms";
        parts.push(ttft);
      }
    }
    view.stats.replaceChildren();
    parts.forEach((part, i) => {
      if (i) view.stats.append(document.createTextNode(" · "));
      view.stats.append(part);
    });
    if (row) {
      const link = el("a", "pg-ledger-link", "ledger row #" + row.id);
      link.href = row.url;
      view.stats.append(document.createTextNode(" · "), link);
    }
  }
  function renderAll() {
    els.conversation.querySelectorAll(".pg-turn").forEach((node) => node.remove());
    replyViews.clear();
    els.empty.hidden = state.turns.length > 0;
    state.turns.forEach(renderTurn);
    renderTotal();
  }
  // The conversation's spent cost, exact: [BigInt units of 1e-18 USD, replies counted].
  function conversationTotal() {
    let total = 0n;
    let replies = 0;
    for (const turn of state.turns) {
      for (const reply of turn.replies || []) {
        if (!reply.ledger) continue;
        const units = toUnits(spentCost(reply.ledger.reported_cost, reply.ledger.computed_cost));
        if (units !== null) { total += units; replies += 1; }
      }
    }
    return [total, replies];
  }
  function renderTotal() {
    const [total, replies] = conversationTotal();
    els.total.textContent = "Conversation total: " + money(fromUnits(total)) + " (" + replies + (replies === 1 ? " reply)" : " replies)");
  }
  function setStatus(text, isError) {
    els.status.textContent = text;
    els.status.classList.toggle("error", !!isError);
  }
  function setBusy(busy) {
    els.send.disabled = busy;
    els.stop.disabled = !busy;
  }

  // ---- actions -------------------------------------------------------------------------------------
  async function send(prompt) {
    const chosen = activeModels();
    if (!chosen.length) { setStatus("Choose a model first.", true); return; }
    syncSettingsView();
    setBusy(true);
    setStatus("");
    let token;
    try {
      token = await getToken();
    } catch (err) {
      setStatus(err.message, true);
      setBusy(false);
      return;
    }
    const history = state.turns.slice();
    const turn = {
      user: prompt, at: new Date().toISOString(),
      replies: chosen.map((c) => ({ slot: c.slot, model: c.model, content: "", status: "streaming" })),
    };
    const bodies = turn.replies.map((r) => requestBody(r.model, r.slot, history, prompt));
    state.turns.push(turn);
    renderTurn(turn);
    els.prompt.value = "";
    save();
    try {
      await Promise.all(turn.replies.map((reply, i) => streamReply(reply, bodies[i], token)));
    } finally {
      setBusy(false);
      save();
    }
  }
  function stop() {
    for (const controller of controllers) controller.abort();
  }
  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\"'\"'") + "'";
  }
  function pyValue(value, indent) {
    return JSON.stringify(value, null, 4).replace(/\n/g, "\n" + indent);
  }
  function showCode() {
    const chosen = activeModels();
    if (!chosen.length) { setStatus("Choose a model first.", true); return; }
    // With a message typed: the request Send would make now; otherwise the last request sent, as sent.
    const prompt = els.prompt.value.trim();
    const last = state.turns.length ? state.turns[state.turns.length - 1].replies[0] : null;
    const body = !prompt && last && last.request ? last.request :
      requestBody(chosen[0].model, chosen[0].slot, state.turns, prompt || "Hello!");
    const base = window.location.origin + "/api/v1";
    els.code.hidden = false;
    $("pg-code-curl").textContent =
      "curl " + base + "/chat/completions \\\n" +
      "  -H \"Authorization: Bearer $TOKENLEDGER_API_KEY\" \\\n" +
      "  -H \"Content-Type: application/json\" \\\n" +
      "  -d " + shellQuote(JSON.stringify(body, null, 2));
    const lines = [
      "import os", "", "from openai import OpenAI", "",
      "client = OpenAI(base_url=" + JSON.stringify(base) + ", api_key=os.environ[\"TOKENLEDGER_API_KEY\"])",
      "stream = client.chat.completions.create(",
      "    model=" + JSON.stringify(body.model) + ",",
      "    messages=" + pyValue(body.messages, "    ") + ",",
    ];
    const extra = {};
    for (const [name, value] of Object.entries(body)) {
      if (name === "model" || name === "messages" || name === "stream") continue;
      if (SDK_NATIVE.has(name)) lines.push("    " + name + "=" + JSON.stringify(value) + ",");
      else extra[name] = value;
    }
    lines.push("    stream=True,");
    if (Object.keys(extra).length) lines.push("    extra_body=" + pyValue(extra, "    ") + ",");
    lines.push(")", "for chunk in stream:", "    if chunk.choices and chunk.choices[0].delta.content:",
      "        print(chunk.choices[0].delta.content, end=\"\", flush=True)", "print()");
    $("pg-code-python").textContent = lines.join("\n");
  }
  function exportJson() {
    const data = {
      exported_at: new Date().toISOString(),
      system: state.system,
      total_cost: fromUnits(conversationTotal()[0]),
      turns: state.turns,
    };
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "playground-" + data.exported_at.slice(0, 19).replace(/[:T]/g, "-") + ".json";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }
  function clearConversation() {
    stop();
    state.turns = [];
    save();
    renderAll();
    setStatus("Conversation cleared.");
  }

  // ---- wiring --------------------------------------------------------------------------------------
  load();
  // "Open in playground" on a model page: ?model=<id> picks the first model (the conversation stays).
  const linked = new URLSearchParams(window.location.search).get("model");
  if (linked && Array.from(slots[0].options).some((o) => o.value === linked)) state.models[0] = linked;
  applyStateToForm();
  syncSettingsView();
  renderAll();
  els.search.addEventListener("input", filterModels);
  els.compare.addEventListener("change", syncSettingsView);
  els.system.addEventListener("change", syncSettingsView);
  slots.forEach((select) => select.addEventListener("change", syncSettingsView));
  document.querySelectorAll(".pg-params input, .pg-params select").forEach((input) => input.addEventListener("change", syncSettingsView));
  els.key.addEventListener("change", () => { tokenCache = null; });
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const prompt = els.prompt.value.trim();
    if (prompt && !els.send.disabled) send(prompt);
  });
  els.prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) els.form.requestSubmit();
  });
  els.stop.addEventListener("click", stop);
  $("pg-clear").addEventListener("click", clearConversation);
  $("pg-export").addEventListener("click", exportJson);
  $("pg-view-code").addEventListener("click", showCode);
  $("pg-code-close").addEventListener("click", () => { els.code.hidden = true; });
}
playground();
