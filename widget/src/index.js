// Entry point of the bundle (build/web/cart-chat.js). Two ways to embed it:
//   <script src=".../cart-chat.js"></script>
//   <script>CartChat.init({ socketUrl: "https://chat.example.org" });</script>
// or, for pages with a strict Content-Security-Policy (no inline script), a JSON block
//   <script type="application/json" id="cart-chat-config">{"socketUrl": "..."}</script>
// which the bundle reads by itself.
import { ChatWidget, DEFAULTS } from "./widget.js";

const script = document.currentScript;
const base = script?.src ? new URL(".", script.src).href : "";

function addStylesheet(href) {
  if (document.querySelector(`link[data-cart-chat]`)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  link.dataset.cartChat = "";
  document.head.appendChild(link);
}

let widget = null;

function init(config = {}) {
  if (widget) return widget; // one widget per page
  addStylesheet(config.stylesheet || `${base}cart-chat.css`);
  const target = config.selector ? document.querySelector(config.selector) : null;
  widget = new ChatWidget(config).mount(target);
  return widget;
}

function initFromPage() {
  const block = document.getElementById("cart-chat-config");
  if (!block) return;
  let config = {};
  try {
    config = JSON.parse(block.textContent || "{}");
  } catch {
    console.error("cart-chat: the JSON in #cart-chat-config could not be read; using defaults");
  }
  init(config);
}

window.CartChat = { init, defaults: { ...DEFAULTS } };
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", initFromPage);
} else {
  initFromPage();
}
