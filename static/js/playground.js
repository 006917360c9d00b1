/* Playground: chat with any model through our own gateway, and see what each reply cost.
 *
 * The page's entry: it wires the modules of static/js/playground/ together and runs the conversation.
 * - state.js: the conversation in localStorage, and its spent total (the server's rule, exact);
 * - settings.js: model pickers, system prompt, parameters;   - token.js: the short-lived `tlpg_` token;
 * - gateway.js: one streamed reply, and its ledger row by our request id;
 * - view.js: the conversation on the page (markdown.js: replies as safe Markdown; dom.js: copy buttons);
 * - code.js: "View code" and "Export JSON".
 */
import { curlCode, exportJson, pythonCode } from "./playground/code.js";
import { ledgerRow, streamReply } from "./playground/gateway.js";
import { createSettings } from "./playground/settings.js";
import { createStore } from "./playground/state.js";
import { createTokens } from "./playground/token.js";
import { createView } from "./playground/view.js";

const config = JSON.parse(document.getElementById("playground-config").textContent);
const $ = (id) => document.getElementById(id);
const els = { form: $("pg-form"), prompt: $("pg-prompt"), send: $("pg-send"), stop: $("pg-stop"),
  status: $("pg-status"), code: $("pg-code") };

const store = createStore(config.storage_key, (message) => setStatus(message, true));
const { state } = store;
const settings = createSettings(config, store);
const tokens = createTokens(config.token_url, $("pg-key"), els.form);
const view = createView(store, { retry });
const controllers = new Set();

function setStatus(text, isError) {
  els.status.textContent = text;
  els.status.classList.toggle("error", !!isError);
}

function setBusy(busy) {
  els.send.disabled = busy;
  els.stop.disabled = !busy;
  view.setBusy(busy);
}

// The messages a slot's model sees: the system prompt, the turns before with its own replies, the prompt.
function requestBody(model, slot, turns, prompt) {
  const messages = [];
  if (state.system.trim()) messages.push({ role: "system", content: state.system });
  for (const turn of turns) {
    messages.push({ role: "user", content: turn.user });
    const reply = (turn.replies || []).find((r) => r.slot === slot);
    if (reply && reply.content) messages.push({ role: "assistant", content: reply.content });
  }
  messages.push({ role: "user", content: prompt });
  const body = { model, messages, stream: true };
  for (const [name, value] of Object.entries(settings.readParams())) {
    if (settings.supports(model, name)) body[name] = value;
  }
  return body;
}

// Streams one reply; resolves when it has ended. Its ledger row is fetched after, without holding Send.
async function run(reply, body, token) {
  const controller = new AbortController();
  controllers.add(controller);
  try {
    await streamReply({
      endpoint: config.endpoint, token, body, reply, signal: controller.signal,
      onChunk: view.renderContent, onRefused: tokens.forget,
    });
  } finally {
    controllers.delete(controller);
    view.renderReply(reply);
    store.save();
  }
  showLedgerRow(reply);
}

async function showLedgerRow(reply) {
  const requestId = reply.request_id;
  const row = await ledgerRow(config.ledger_url, reply);
  if (!row || reply.request_id !== requestId) return; // none, or the reply was retried meanwhile
  reply.ledger = row;
  view.renderReply(reply);
  view.renderTotal();
  store.save();
}

// Asks each reply's model with its body: a new turn's, or a retry's.
async function ask(replies, bodyOf, beforeRender) {
  syncAndBusy();
  let token;
  try {
    token = await tokens.get();
  } catch (err) {
    setStatus(err.message, true);
    setBusy(false);
    return;
  }
  const bodies = replies.map(bodyOf);
  beforeRender();
  store.save();
  try {
    await Promise.all(replies.map((reply, i) => run(reply, bodies[i], token)));
  } finally {
    setBusy(false);
  }
}

function syncAndBusy() {
  settings.sync();
  setBusy(true);
  setStatus("");
}

function send(prompt) {
  const chosen = settings.activeModels();
  if (!chosen.length) { setStatus("Choose a model first.", true); return; }
  const history = state.turns.slice();
  const turn = {
    user: prompt, at: new Date().toISOString(),
    replies: chosen.map((c) => ({ slot: c.slot, model: c.model, content: "", status: "streaming" })),
  };
  return ask(turn.replies, (reply) => requestBody(reply.model, reply.slot, history, prompt), () => {
    state.turns.push(turn);
    view.renderTurn(turn);
    els.prompt.value = "";
  });
}

// Sends these replies' requests again, as they were sent; each reply starts afresh, and what the replaced
// one spent stays in the conversation total.
function retry(turn, replies) {
  if (els.send.disabled) return;
  const history = state.turns.slice(0, state.turns.indexOf(turn));
  const bodyOf = (reply) => reply.request || requestBody(reply.model, reply.slot, history, turn.user);
  return ask(replies, bodyOf, () => {
    for (const reply of replies) {
      if (reply.ledger) reply.retried = [...(reply.retried || []), reply.ledger];
      for (const field of ["ledger", "error", "usage", "reasoning", "served_model", "request_id", "client",
        "client_ttft_ms", "chunks"]) delete reply[field];
      Object.assign(reply, { content: "", status: "streaming" });
      view.renderReply(reply);
    }
  });
}

function stop() {
  for (const controller of controllers) controller.abort();
}

function showCode() {
  const chosen = settings.activeModels();
  if (!chosen.length) { setStatus("Choose a model first.", true); return; }
  // With a message typed: the request Send would make now; otherwise the last request sent, as sent.
  const prompt = els.prompt.value.trim();
  const last = state.turns.length ? state.turns[state.turns.length - 1].replies[0] : null;
  const body = !prompt && last && last.request ? last.request :
    requestBody(chosen[0].model, chosen[0].slot, state.turns, prompt || "Hello!");
  const base = window.location.origin + "/api/v1";
  els.code.hidden = false;
  $("pg-code-curl").textContent = curlCode(base, body);
  $("pg-code-python").textContent = pythonCode(base, body);
}

function clearConversation() {
  stop();
  state.turns = [];
  store.save();
  view.renderAll();
  setStatus("Conversation cleared.");
}

store.load();
settings.apply();
view.renderAll();
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
$("pg-export").addEventListener("click", () => exportJson(state));
$("pg-view-code").addEventListener("click", showCode);
$("pg-code-close").addEventListener("click", () => { els.code.hidden = true; });
