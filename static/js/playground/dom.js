// Small DOM helpers for the playground: elements with text (never markup), and copy buttons.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function button(className, label, onClick) {
  const node = el("button", className, label);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// A button that copies getText() to the clipboard and says for a moment whether it could.
export function copyButton(getText, label = "Copy") {
  const node = button("pg-copy", label, async () => {
    let said = "Copied";
    try {
      await navigator.clipboard.writeText(getText());
    } catch (err) {
      said = "Copy failed"; // no clipboard (an http page that is not localhost) or permission refused
    }
    node.textContent = said;
    setTimeout(() => { node.textContent = label; }, 1500);
  });
  return node;
}
