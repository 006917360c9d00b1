/* The conversation on the page: each turn's prompt and replies (Markdown, reasoning, the model that served,
 * tokens, cost, speed, the ledger row), with copy and retry on every message, and the conversation total.
 * Model output is untrusted: it reaches the page only as text nodes (markdown.js). */
import { fromUnits, money } from "../money.js";
import { button, copyButton, el } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { conversationTotal, spent } from "./state.js";

// An upstream may name the model without our routing prefix ("qwen3-8b" for "local/qwen3-8b"): the same one.
const sameModel = (asked, served) => served === asked || asked.endsWith("/" + served);

// The model that served the reply when it is not the one asked for (an alias, a fallback), else "".
// Its ledger row's is our own id for it; until the row comes, the one the stream named.
export function servedInstead(reply) {
  const served = (reply.ledger && reply.ledger.served_model) || reply.served_model || "";
  return served && !sameModel(reply.model, served) ? served : "";
}

export function createView(store, actions) {
  const { state } = store;
  const conversation = document.getElementById("pg-conversation");
  const empty = document.getElementById("pg-empty");
  const totalLine = document.getElementById("pg-total");
  const views = new Map(); // reply object -> its DOM nodes (kept out of the saved state)
  let busy = false;

  function retryButton(onClick) {
    const node = button("pg-retry", "Retry", onClick);
    node.disabled = busy;
    return node;
  }

  function renderTurn(turn) {
    empty.hidden = true;
    const box = el("div", "pg-turn");
    const user = el("div", "pg-msg pg-user");
    const userActions = el("div", "pg-actions");
    userActions.append(copyButton(() => turn.user), retryButton(() => actions.retry(turn, turn.replies)));
    user.append(el("div", "pg-user-text", turn.user), userActions);
    const replies = el("div", "pg-replies");
    replies.style.setProperty("--cols", String(Math.max(1, turn.replies.length)));
    for (const reply of turn.replies) replies.append(replyCard(turn, reply));
    box.append(user, replies);
    conversation.append(box);
    box.scrollIntoView({ block: "end" });
  }

  function replyCard(turn, reply) {
    const card = el("article", "pg-msg pg-reply");
    card.dataset.model = reply.model;
    const head = el("header", "pg-reply-head");
    const served = el("span", "pg-served");
    const stateBadge = el("span", "badge pg-state");
    const names = el("span", "pg-models");
    names.append(el("span", "mono", reply.model), served);
    head.append(names, stateBadge);
    const reasoning = el("details", "pg-reasoning");
    const reasoningText = el("div", "pg-reasoning-text");
    reasoning.append(el("summary", null, "Reasoning"), reasoningText);
    const text = el("div", "pg-text");
    const error = el("p", "pg-error error");
    const stats = el("div", "pg-stats muted");
    const replyActions = el("div", "pg-actions");
    replyActions.append(copyButton(() => reply.content || ""), retryButton(() => actions.retry(turn, [reply])));
    card.append(head, reasoning, text, error, stats, replyActions);
    views.set(reply, { card, served, stateBadge, reasoning, reasoningText, text, error, stats });
    renderReply(reply);
    return card;
  }

  // The parts that grow while a reply streams.
  function renderContent(reply) {
    const view = views.get(reply);
    if (!view) return;
    view.reasoning.hidden = !reply.reasoning;
    view.reasoningText.textContent = reply.reasoning || "";
    view.text.replaceChildren(renderMarkdown(reply.content || ""));
    view.card.dataset.chunks = String(reply.chunks || 0);
    const instead = servedInstead(reply);
    view.served.hidden = !instead;
    view.served.textContent = instead ? "served by " + instead : "";
  }

  function stat(name, label, value) {
    const span = el("span", "pg-stat", label + " " + value);
    span.dataset.stat = name;
    return span;
  }

  function statParts(reply) {
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
      const cost = stat("cost", "cost", money(spent(row)));
      cost.title = "reported " + (row.reported_cost === null ? "n/a" : "$" + row.reported_cost) +
        " · computed " + (row.computed_cost === null ? "n/a" : "$" + row.computed_cost);
      parts.push(cost, stat("computed", "computed", money(row.computed_cost)));
    } else if (reply.status !== "streaming" && reply.request_id) {
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
    if (row) {
      // The exact row, by our request id (a generation id is not unique).
      const link = el("a", "pg-ledger-link", "ledger row #" + row.id);
      link.href = row.url;
      parts.push(link);
    }
    return parts;
  }

  function renderReply(reply) {
    const view = views.get(reply);
    if (!view) return;
    view.card.dataset.status = reply.status;
    view.stateBadge.textContent = reply.status === "streaming" ? "streaming…" : reply.status;
    view.stateBadge.className = "badge pg-state " + reply.status;
    renderContent(reply);
    view.error.textContent = reply.error || "";
    view.error.hidden = !reply.error;
    view.stats.replaceChildren();
    statParts(reply).forEach((part, i) => {
      if (i) view.stats.append(document.createTextNode(" · "));
      view.stats.append(part);
    });
  }

  function renderTotal() {
    const [total, replies] = conversationTotal(state.turns);
    totalLine.textContent = "Conversation total: " + money(fromUnits(total)) +
      " (" + replies + (replies === 1 ? " reply)" : " replies)");
  }

  function renderAll() {
    conversation.querySelectorAll(".pg-turn").forEach((node) => node.remove());
    views.clear();
    empty.hidden = state.turns.length > 0;
    state.turns.forEach(renderTurn);
    renderTotal();
  }

  function setBusy(value) {
    busy = value;
    conversation.querySelectorAll(".pg-retry").forEach((node) => { node.disabled = busy; });
  }

  return { renderTurn, renderReply, renderContent, renderTotal, renderAll, setBusy };
}
