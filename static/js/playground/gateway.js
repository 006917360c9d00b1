/* One reply from our gateway: POST the chat request, read its Server-Sent Events by hand (fetch +
 * ReadableStream), and fill in the reply object as chunks arrive. Stop aborts the fetch: the gateway sees the
 * disconnect and records the ledger row as cancelled.
 *
 * A reply keeps our request id (the `x-tokenledger-request-id` header: its ledger row, unique) and the model
 * that served it (the chunks' `model`: an alias member or a fallback may answer instead of the one asked).
 */

export const REQUEST_ID_HEADER = "x-tokenledger-request-id";
const TITLES = {
  400: "Bad request", 401: "Key refused", 402: "Budget spent", 403: "Not allowed", 404: "Not found",
  408: "Timed out", 413: "Too large", 429: "Rate limited", 500: "Server error", 502: "Upstream error",
  503: "Upstream unavailable", 504: "Upstream timeout",
};

export function describeError(status, body, headers) {
  const error = (body && body.error) || {};
  let message = error.message || (typeof body === "string" && body.slice(0, 300)) || "no message";
  const meta = error.metadata || {};
  if (meta.provider_name) message += " (provider: " + meta.provider_name + ")";
  if (meta.raw && typeof meta.raw === "string" && meta.raw !== error.message) message += " — " + meta.raw;
  let text = (TITLES[status] || "Error") + " (" + status + "): " + message;
  const retry = headers && headers.get("Retry-After");
  if (status === 429 && retry) text += " Retry after " + retry + " s.";
  return text;
}

// Yields {data, end} for each complete event in buffer (data null for comments such as ": OPENROUTER PROCESSING").
function* sseEvents(buffer) {
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

// One chunk into the reply; returns true when the reply's text changed.
function takeChunk(reply, json, started) {
  if (typeof json.model === "string" && json.model) reply.served_model = json.model;
  if (json.error) {
    reply.status = "error";
    reply.error = describeError(json.error.code || 500, json, null);
    return true;
  }
  if (json.usage) reply.usage = json.usage;
  const choice = (json.choices || [])[0];
  const delta = (choice && choice.delta) || {};
  if ((delta.reasoning || delta.content) && reply.client_ttft_ms === undefined) {
    reply.client_ttft_ms = Math.round(performance.now() - started);
  }
  if (delta.reasoning) reply.reasoning = (reply.reasoning || "") + delta.reasoning;
  if (delta.content) {
    reply.content += delta.content;
    reply.chunks = (reply.chunks || 0) + 1;
  }
  return !!(delta.reasoning || delta.content);
}

// Streams `body` into `reply` (status, content, reasoning, usage, served_model, request_id, error, client
// timings), calling onChunk(reply) as it grows. Resolves when the reply has ended, however it ended.
export async function streamReply({ endpoint, token, body, reply, signal, onChunk, onRefused }) {
  const started = performance.now();
  reply.request = body;
  try {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify(body),
      signal,
    });
    reply.request_id = res.headers.get(REQUEST_ID_HEADER) || "";
    if (!res.ok) {
      const text = await res.text();
      let parsed = text;
      try { parsed = JSON.parse(text); } catch (err) { /* not JSON: keep the text */ }
      if (res.status === 401) onRefused();
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
        if (takeChunk(reply, json, started) || reply.status === "error") onChunk(reply);
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
    reply.client = { latency_ms: Math.round(performance.now() - started), ttft_ms: reply.client_ttft_ms ?? null };
  }
}

// The reply's ledger row (tokens, costs, latency, the model that served) by our request id, waiting for the
// gateway to write it; null when there is none.
export async function ledgerRow(ledgerUrl, reply) {
  if (!reply.request_id) return null;
  const url = ledgerUrl + "?request_id=" + encodeURIComponent(reply.request_id);
  let row = null;
  for (let attempt = 0; attempt < 40; attempt++) {
    const res = await fetch(url, { credentials: "same-origin" }).catch(() => null);
    if (res && res.ok) {
      row = await res.json();
      // A stopped stream is recorded when the gateway notices the disconnect: wait for its final state.
      if (reply.status !== "cancelled" || row.status !== "ok") break;
    } else if (res && res.status !== 404) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, attempt < 10 ? 150 : 500));
  }
  return row;
}
