/* The playground's credential: a short-lived `tlpg_` token for the chosen key, from the page (POST
 * token_url), never a key's secret. Kept until a minute before it expires, or the key choice changes. */

export function createTokens(tokenUrl, keySelect, form) {
  let cached = null; // {choice (the key select's value), token, expiresAt (ms)}
  keySelect.addEventListener("change", () => { cached = null; });

  async function get() {
    const choice = keySelect.value;
    if (cached && cached.choice === choice && Date.now() < cached.expiresAt) return cached.token;
    const body = new FormData();
    body.append("key", choice);
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    const res = await fetch(tokenUrl, { method: "POST", body, credentials: "same-origin" });
    const data = await res.json().catch(() => ({}));
    if (res.redirected || res.status === 403 || (res.ok && !data.token)) {
      throw new Error("Your session has ended: reload the page to log in again.");
    }
    if (!res.ok) {
      throw new Error((data.error && data.error.message) || "Could not get a playground token (" + res.status + ").");
    }
    cached = { choice, token: data.token, expiresAt: Date.now() + (data.expires_in - 60) * 1000 };
    if (choice === "playground") {
      // The playground key exists now: select it by id from here on.
      const option = document.createElement("option");
      option.value = String(data.key.id);
      option.textContent = data.key.name + " (" + data.key.prefix + "…)";
      keySelect.querySelector("option[value=playground]").replaceWith(option);
      keySelect.value = option.value;
      cached.choice = option.value;
    }
    return cached.token;
  }

  return { get, forget: () => { cached = null; } };
}
