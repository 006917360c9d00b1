/* "View code" (the request as curl and as Python with the openai SDK, the key a placeholder) and "Export
 * JSON" (the whole conversation, with what it spent). */
import { fromUnits } from "../money.js";
import { conversationTotal } from "./state.js";

const SDK_NATIVE = new Set(["temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "seed",
  "stop"]);

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\"'\"'") + "'";
}

function pyValue(value, indent) {
  return JSON.stringify(value, null, 4).replace(/\n/g, "\n" + indent);
}

export function curlCode(base, body) {
  return "curl " + base + "/chat/completions \\\n" +
    "  -H \"Authorization: Bearer $TOKENLEDGER_API_KEY\" \\\n" +
    "  -H \"Content-Type: application/json\" \\\n" +
    "  -d " + shellQuote(JSON.stringify(body, null, 2));
}

export function pythonCode(base, body) {
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
  return lines.join("\n");
}

export function exportJson(state) {
  const data = {
    exported_at: new Date().toISOString(),
    system: state.system,
    total_cost: fromUnits(conversationTotal(state.turns)[0]),
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
