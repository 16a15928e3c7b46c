// The Markdown subset the widget renders: what becomes a link, what stays text.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseInline, parseMarkdown, plainText, safeHref } from "../src/markdown.js";

test("only http(s), tel: and mailto: links are kept", () => {
  assert.equal(safeHref("https://example.org/a?b=1"), "https://example.org/a?b=1");
  assert.equal(safeHref("tel:6179197008"), "tel:6179197008");
  assert.equal(safeHref("mailto:a@b.org"), "mailto:a@b.org");
  for (const bad of ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
    "vbscript:x", "java\tscript:alert(1)", " javascript:alert(1)", "//evil.example",
    "/relative", "", null]) {
    assert.equal(safeHref(bad), null, String(bad));
  }
});

test("an unsafe Markdown link keeps its words and loses its target", () => {
  assert.deepEqual(parseInline("[click](javascript:alert(1))"), [
    { type: "text", text: "click" },
    { type: "text", text: ")" },
  ]);
});

test("bold, links and bare contacts", () => {
  const nodes = parseInline("**Call 911 now** or 617-919-7008, a@b.org, [site](https://x.org)");
  assert.deepEqual(nodes[0], {
    type: "strong",
    children: [
      { type: "text", text: "Call " },
      { type: "link", href: "tel:911", children: [{ type: "text", text: "911" }] },
      { type: "text", text: " now" },
    ],
  });
  const links = nodes.filter((n) => n.type === "link").map((n) => n.href);
  assert.deepEqual(links, ["tel:6179197008", "mailto:a@b.org", "https://x.org"]);
});

test("HTML stays text: nothing is parsed as markup", () => {
  const source = "<img src=x onerror=alert(1)> <script>alert(1)</script>";
  assert.deepEqual(parseMarkdown(source), [
    { type: "p", lines: [[{ type: "text", text: source }]] },
  ]);
});

test("paragraphs, bullet and numbered lists", () => {
  const blocks = parseMarkdown("Steps:\n- one\n- two\n\n1. first\n2. second\nAfter");
  assert.deepEqual(blocks.map((b) => b.type), ["p", "ul", "ol", "p"]);
  assert.equal(blocks[1].items.length, 2);
  assert.equal(blocks[2].items[1][0].text, "second");
});

test("plain text for screen readers drops the marks", () => {
  assert.equal(plainText("**Call 911 now**\n- a\n- b"), "Call 911 now a. b");
});

test("odd input never throws", () => {
  for (const odd of [undefined, null, 42, "", "\u0000\u0001", "*".repeat(5000), "[".repeat(3000)]) {
    assert.ok(Array.isArray(parseMarkdown(odd)));
  }
});
