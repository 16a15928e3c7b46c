// A light, safe subset of Markdown for the assistant's answers: paragraphs, bold, bullet
// and numbered lists, links, and bare phone numbers / emails / web addresses made
// clickable. It returns a plain tree; render.js turns it into DOM nodes with textContent
// only, so no text is ever parsed as HTML.

const SAFE_PROTOCOLS = ["http:", "https:", "tel:", "mailto:"];

/** The href if it is http(s), tel: or mailto:, otherwise null (javascript:, data: ...). */
export function safeHref(raw) {
  const href = String(raw || "").trim();
  // Browsers skip control characters and spaces inside a scheme ("java\tscript:"):
  // a link with any of them is refused rather than guessed at.
  if (/[\u0000-\u0020\u007f]/.test(href)) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(href);
  if (!scheme) return null;
  return SAFE_PROTOCOLS.includes(scheme[1].toLowerCase() + ":") ? href : null;
}

// Bare contacts worth a tap on a phone: US numbers like 617-919-7008, 911, emails, URLs.
const AUTOLINK = new RegExp(
  [
    "(https?:\\/\\/[^\\s<>()]+[^\\s<>().,;:!?'\"])", // 1: web address
    "([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,})", // 2: email
    "(\\b(?:1-)?\\d{3}-\\d{3}-\\d{4}\\b)", // 3: phone number
    "(\\b911\\b)", // 4: emergency number
  ].join("|"),
  "g",
);

function autolink(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(AUTOLINK)) {
    if (match.index > last) out.push({ type: "text", text: text.slice(last, match.index) });
    const [whole, url, email, phone, emergency] = match;
    let href = null;
    if (url) href = safeHref(url);
    else if (email) href = `mailto:${email}`;
    else if (phone) href = `tel:${phone.replace(/-/g, "")}`;
    else if (emergency) href = "tel:911";
    out.push(href ? { type: "link", href, children: [{ type: "text", text: whole }] }
                  : { type: "text", text: whole });
    last = match.index + whole.length;
  }
  if (last < text.length) out.push({ type: "text", text: text.slice(last) });
  return out;
}

const INLINE = /\*\*([^*]+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;

/** Inline tokens of one line: **bold**, [text](url), and autolinked contacts. */
export function parseInline(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) out.push(...autolink(text.slice(last, match.index)));
    const [whole, bold, label, href] = match;
    if (bold !== undefined) {
      out.push({ type: "strong", children: autolink(bold) });
    } else {
      const safe = safeHref(href);
      // An unsafe link keeps its words and drops its target.
      out.push(safe ? { type: "link", href: safe, children: [{ type: "text", text: label }] }
                    : { type: "text", text: label });
    }
    last = match.index + whole.length;
  }
  if (last < text.length) out.push(...autolink(text.slice(last)));
  return out;
}

const BULLET = /^\s*[-*•]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,3}[.)]\s+(.*)$/;

/** Blocks of a message: paragraphs (lines joined by line breaks) and lists. */
export function parseMarkdown(source) {
  const blocks = [];
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let paragraph = null;
  let list = null;
  const close = () => { paragraph = null; list = null; };
  for (const line of lines) {
    const bullet = BULLET.exec(line);
    const numbered = bullet ? null : NUMBERED.exec(line);
    if (bullet || numbered) {
      const type = bullet ? "ul" : "ol";
      if (!list || list.type !== type) {
        list = { type, items: [] };
        blocks.push(list);
      }
      paragraph = null;
      list.items.push(parseInline((bullet || numbered)[1]));
    } else if (line.trim() === "") {
      close();
    } else {
      if (!paragraph) {
        paragraph = { type: "p", lines: [] };
        blocks.push(paragraph);
      }
      list = null;
      paragraph.lines.push(parseInline(line));
    }
  }
  return blocks;
}

/** The words of a message without its Markdown marks, for screen-reader announcements. */
export function plainText(source) {
  const flatten = (nodes) => nodes.map((n) => (n.text ?? flatten(n.children))).join("");
  return parseMarkdown(source)
    .map((block) => (block.type === "p"
      ? block.lines.map(flatten).join(" ")
      : block.items.map(flatten).join(". ")))
    .join(" ");
}
