// The live conversation on a request's page: polls the console for new messages (which
// also tells the console the coordinator is still here) and sends the coordinator's
// messages. Every text goes through textContent: what a family typed is never HTML.
(function () {
  "use strict";
  const list = document.getElementById("live");
  if (!list) return;
  const reference = list.dataset.reference;
  const csrf = list.dataset.csrf;
  const status = document.getElementById("live-status");
  const form = document.getElementById("say");
  const LABELS = { family: "Family", assistant: "Assistant", coordinator: "Coordinator", notice: "Notice" };
  let after = -1;
  let busy = false;

  function add(message) {
    const item = document.createElement("li");
    item.className = "from-" + message.who;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.who === "coordinator" && message.name
      ? "Coordinator (" + message.name + ")" : LABELS[message.who] || message.who;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(who, " ", text);
    list.append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  async function poll() {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(`/requests/${encodeURIComponent(reference)}/live?after=${after}`,
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401) {
        status.textContent = "You are logged out. Please log in again.";
        return;
      }
      if (!response.ok) {
        status.textContent = "The assistant's server did not answer; trying again…";
        return;
      }
      const data = await response.json();
      status.textContent = data.paused ? "The assistant is paused." : "";
      for (const message of data.messages) {
        add(message);
        after = Math.max(after, message.index);
      }
    } catch {
      status.textContent = "No connection; trying again…";
    } finally {
      busy = false;
    }
  }

  if (form) {
    const input = document.getElementById("say-text");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      const response = await fetch(`/requests/${encodeURIComponent(reference)}/messages`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ text }),
      });
      if (response.ok) {
        input.value = "";
        poll();
      } else {
        const data = await response.json().catch(() => ({}));
        status.textContent = data.error || "The message could not be sent.";
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  poll();
  setInterval(poll, 700);
})();
