/* Markdown for model replies, built as DOM nodes through textContent: never innerHTML, so markup in a reply
 * (<script>, <img onerror>) stays text and runs nothing. The subset chat models write: paragraphs, headings,
 * fenced code blocks (each with a copy button; a fence still open mid-stream runs to the end), inline code,
 * emphasis, strikethrough, links (http, https and mailto only), block quotes, lists, tables and rules.
 */
import { copyButton, el } from "./dom.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_RULE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const LANGUAGE = /^[\w+#.-]{1,30}$/;
const ESCAPABLE = /[!-/:-@[-`{-~]/;
const SAFE_URL = /^(https?:\/\/|mailto:)[^\s<>]+$/i;

const blank = (line) => line.trim() === "";
const indentOf = (line) => /^ */.exec(line)[0].length;

export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  fragment.append(...blocks(text.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n")));
  return fragment;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function blocks(lines) {
  const nodes = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let match;
    if (blank(line)) {
      i++;
    } else if ((match = FENCE.exec(line))) {
      const fence = match[1];
      const code = [];
      for (i++; i < lines.length; i++) {
        const close = lines[i].trim();
        if (close.startsWith(fence) && close.replaceAll(fence[0], "") === "") break;
        code.push(lines[i]);
      }
      i++;
      nodes.push(codeBlock(code.join("\n"), match[2]));
    } else if ((match = HEADING.exec(line))) {
      // A reply's heading sits under the page's own h1 and h2.
      nodes.push(el("h" + Math.min(6, match[1].length + 2), "pg-md-heading"));
      nodes.at(-1).append(...inline(match[2] || ""));
      i++;
    } else if (RULE.test(line)) {
      nodes.push(el("hr"));
      i++;
    } else if (QUOTE.test(line)) {
      const inner = [];
      for (; i < lines.length && (match = QUOTE.exec(lines[i])); i++) inner.push(match[1]);
      const quote = el("blockquote");
      quote.append(...blocks(inner));
      nodes.push(quote);
    } else if (ITEM.test(line)) {
      i = list(lines, i, nodes);
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      i = table(lines, i, nodes);
    } else {
      const text = [line];
      for (i++; i < lines.length && !blank(lines[i]) && !startsBlock(lines[i]); i++) text.push(lines[i]);
      const paragraph = el("p");
      paragraph.append(...inline(text.join("\n")));
      nodes.push(paragraph);
    }
  }
  return nodes;
}

function list(lines, i, nodes) {
  const first = ITEM.exec(lines[i]);
  const ordered = /\d/.test(first[2]);
  const node = el(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
  let match;
  while (i < lines.length && (match = ITEM.exec(lines[i])) && /\d/.test(match[2]) === ordered) {
    const indent = match[0].length - (match[3] || "").length; // where the item's content starts
    const content = [match[3] || ""];
    for (i++; i < lines.length; i++) {
      const line = lines[i];
      if (blank(line)) {
        let next = i;
        while (next < lines.length && blank(lines[next])) next++;
        if (next === lines.length || indentOf(lines[next]) < indent) break;
        content.push("");
      } else if (indentOf(line) >= indent) {
        content.push(line.slice(indent));
      } else if (startsBlock(line)) {
        break;
      } else {
        content.push(line); // a paragraph's lazy continuation
      }
    }
    const item = el("li");
    item.append(...blocks(content));
    node.append(item);
  }
  nodes.push(node);
  return i;
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/(^|[^\\])\|$/, "$1").split(/(?<!\\)\|/).map((c) => c.trim());
}

function table(lines, i, nodes) {
  const node = el("table", "pg-md-table");
  const head = el("thead");
  const row = el("tr");
  for (const cell of cells(lines[i])) row.append(cellNode("th", cell));
  head.append(row);
  const body = el("tbody");
  for (i += 2; i < lines.length && !blank(lines[i]) && lines[i].includes("|"); i++) {
    const tr = el("tr");
    for (const cell of cells(lines[i])) tr.append(cellNode("td", cell));
    body.append(tr);
  }
  node.append(head, body);
  const wrap = el("div", "table-wrap");
  wrap.append(node);
  nodes.push(wrap);
  return i;
}

function cellNode(tag, text) {
  const node = el(tag);
  node.append(...inline(text));
  return node;
}

function codeBlock(code, language) {
  const box = el("div", "pg-code-block");
  const head = el("div", "pg-code-head");
  const lang = LANGUAGE.test(language || "") ? language : "";
  head.append(el("span", "pg-code-lang", lang || "code"), copyButton(() => code, "Copy code"));
  const pre = el("pre");
  const codeNode = el("code", lang ? "language-" + lang : null, code);
  pre.append(codeNode);
  box.append(head, pre);
  return box;
}

// ---- inline -----------------------------------------------------------------------------------------------
const DELIMITERS = [["**", "strong"], ["__", "strong"], ["~~", "del"], ["*", "em"], ["_", "em"]];

function inline(text) {
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push(document.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    let found = null;
    if (c === "\\" && ESCAPABLE.test(text[i + 1] || "")) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") found = codeSpan(text, i);
    else if (c === "*" || c === "_" || c === "~") found = emphasis(text, i);
    else if (c === "[" || (c === "!" && text[i + 1] === "[")) found = link(text, i);
    else if (c === "<") found = autolink(text, i);
    if (found) {
      flush();
      out.push(found.node);
      i = found.end;
    } else {
      plain += c;
      i++;
    }
  }
  flush();
  return out;
}

function codeSpan(text, i) {
  const run = /^`+/.exec(text.slice(i))[0];
  let close = text.indexOf(run, i + run.length);
  while (close !== -1 && text[close + run.length] === "`") close = text.indexOf(run, close + run.length + 1);
  if (close === -1) return null;
  let code = text.slice(i + run.length, close).replace(/\n/g, " ");
  if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
  return { node: el("code", null, code), end: close + run.length };
}

function emphasis(text, i) {
  for (const [mark, tag] of DELIMITERS) {
    if (!text.startsWith(mark, i)) continue;
    const start = i + mark.length;
    if (start >= text.length || /\s/.test(text[start])) continue;
    if (mark[0] === "_" && /[\p{L}\p{N}]/u.test(text[i - 1] || "")) continue; // snake_case stays text
    for (let close = text.indexOf(mark, start + 1); close !== -1; close = text.indexOf(mark, close + 1)) {
      if (/\s/.test(text[close - 1])) continue;
      if (mark.length === 1 && text[close + 1] === mark) { close++; continue; } // a double mark's
      if (mark.length === 1 && text[close - 1] === mark) continue;
      if (mark[0] === "_" && /[\p{L}\p{N}]/u.test(text[close + mark.length] || "")) continue;
      const node = el(tag);
      node.append(...inline(text.slice(start, close)));
      return { node, end: close + mark.length };
    }
  }
  return null;
}

function link(text, i) {
  const image = text[i] === "!";
  const open = image ? i + 1 : i;
  let depth = 0;
  let close = -1;
  for (let j = open; j < text.length; j++) {
    if (text[j] === "\\") { j++; continue; }
    if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) { close = j; break; }
  }
  if (close === -1 || text[close + 1] !== "(") return null;
  const end = text.indexOf(")", close + 2);
  if (end === -1) return null;
  const href = text.slice(close + 2, end).trim().split(/\s+/)[0].replace(/^<(.*)>$/, "$1");
  if (!SAFE_URL.test(href)) return null; // javascript:, data:, relative links: the text stays as written
  const node = anchor(href);
  const label = text.slice(open + 1, close);
  // An image is not fetched (the page's policy would refuse it anyway): a link to it, named by its alt text.
  node.append(...(image ? [document.createTextNode("image: " + (label || href))] : inline(label)));
  return { node, end: end + 1 };
}

function autolink(text, i) {
  const match = /^<([^\s<>]+)>/.exec(text.slice(i));
  if (!match || !SAFE_URL.test(match[1])) return null;
  const node = anchor(match[1]);
  node.textContent = match[1].replace(/^mailto:/i, "");
  return { node, end: i + match[0].length };
}

function anchor(href) {
  const node = el("a");
  node.href = href;
  node.rel = "noopener noreferrer nofollow";
  node.target = "_blank";
  return node;
}
