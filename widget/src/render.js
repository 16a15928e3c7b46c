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
