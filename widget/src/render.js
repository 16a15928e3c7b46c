// Turns the tree from markdown.js into DOM nodes. Text only ever goes through
// textContent / createTextNode: a message containing <script> shows literally.
import { parseMarkdown } from "./markdown.js";

function inline(nodes, parent) {
  for (const node of nodes) {
    if (node.type === "text") {
      parent.appendChild(document.createTextNode(node.text));
    } else if (node.type === "strong") {
      const strong = document.createElement("strong");
      inline(node.children, strong);
      parent.appendChild(strong);
    } else if (node.type === "link") {
      const link = document.createElement("a");
      link.href = node.href;
      if (/^https?:/i.test(node.href)) {
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
      inline(node.children, link);
      parent.appendChild(link);
    }
  }
}

/** A fragment with the message's paragraphs and lists. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  for (const block of parseMarkdown(source)) {
    if (block.type === "p") {
      const p = document.createElement("p");
      block.lines.forEach((line, i) => {
        if (i > 0) p.appendChild(document.createElement("br"));
        inline(line, p);
      });
      fragment.appendChild(p);
    } else {
      const list = document.createElement(block.type);
      for (const item of block.items) {
        const li = document.createElement("li");
        inline(item, li);
        list.appendChild(li);
      }
      fragment.appendChild(list);
    }
  }
  return fragment;
}

/** A user's words, exactly as typed: never Markdown, never HTML. */
export function renderPlain(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

let feedbackUid = 0;

function tag(name, attributes = {}, text) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * "Was this helpful? Yes / No" under an answer; after "No", an optional one-line "What
 * were you looking for?". Native buttons and a labelled input (keyboard and screen
 * readers); the outcome is announced in the group's own status line. `onRate(helpful,
 * comment)` is called once for Yes or No, and once more with the comment if one is sent.
 * `onDone()` when nothing more is asked (focus then goes back to the chat's input).
 */
export function renderFeedback({ onRate, onDone, maxLength = 200 }) {
  const id = `cart-chat-feedback-${++feedbackUid}`;
  const group = tag("div", {
    class: "cart-chat__feedback", role: "group", "aria-labelledby": `${id}-question`,
  });
  const question = tag("span", { id: `${id}-question`, class: "cart-chat__feedback-question" },
    "Was this helpful?");
  const yes = tag("button", { type: "button", class: "cart-chat__feedback-button" }, "Yes");
  const no = tag("button", { type: "button", class: "cart-chat__feedback-button" }, "No");
  const status = tag("p", { class: "cart-chat__feedback-status", role: "status" });
  group.append(question, yes, no, status);

  const finish = (text) => {
    // Only the thanks is left: no longer a group of controls with a question.
    group.removeAttribute("role");
    group.removeAttribute("aria-labelledby");
    group.replaceChildren(status);
    status.textContent = text;
    onDone?.();
  };
  yes.addEventListener("click", () => {
    onRate(true, "");
    finish("Thank you for your feedback.");
  });
  no.addEventListener("click", () => {
    onRate(false, "");
    const form = tag("form", { class: "cart-chat__feedback-form" });
    const input = tag("input", {
      id: `${id}-comment`, type: "text", class: "cart-chat__feedback-input",
      maxlength: String(maxLength), autocomplete: "off",
    });
    const send = tag("button", { type: "submit", class: "cart-chat__feedback-button" }, "Send");
    const skip = tag("button", { type: "button", class: "cart-chat__feedback-skip" }, "Skip");
    form.append(
      tag("label", { for: `${id}-comment`, class: "cart-chat__feedback-label" },
        "What were you looking for? (optional)"),
      input, send, skip,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = input.value.replace(/\s+/g, " ").trim();
      if (comment) onRate(false, comment);
      finish("Thank you. This helps us improve the answers.");
    });
    skip.addEventListener("click", () => finish("Thank you for your feedback."));
    group.replaceChildren(question, form, status);
    question.textContent = "Sorry this did not help.";
    input.focus();
  });
  return group;
}
