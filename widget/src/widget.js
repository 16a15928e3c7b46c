// The chat widget: a launcher, a panel, and a socket.io connection to Rasa's channel.
// Config names follow Rasa's community widget (socketUrl, socketPath, title, initPayload,
// customData, mainColor ...). Everything shown is built with textContent (render.js).
import { io } from "socket.io-client";

import { cleanComment, MAX_COMMENT_LENGTH, postFeedback, ratedReply } from "./feedback.js";
import { plainText } from "./markdown.js";
import { renderFeedback, renderMarkdown, renderPlain } from "./render.js";
import { ChatStore } from "./storage.js";

export const DEFAULTS = {
  socketUrl: null, // defaults to the page's own origin
  socketPath: "/socket.io/",
  title: "CAR T-cell therapy program",
  subtitle: "Answers for families and referring doctors",
  initPayload: "/greet",
  customData: {},
  storage: "session",
  maxMessageLength: 2000,
  handoffPayload: "/request_human",
  handoffTitle: "Talk to a coordinator",
  launcherLabel: "Questions? Chat with us",
  inputTextFieldHint: "Type your question",
  phone: "",
  mainColor: "#0b4f8a",
  userTextColor: "#ffffff",
  replyTimeoutMs: 30000,
  // "Was this helpful?" (feedback.js): where ratings are posted (null: not asked), and
  // how the messages that are not answers begin (form questions, greeting).
  feedbackUrl: null,
  feedbackSkip: [],
};

// What the status line says for each connection state (the "online" state shows nothing).
const STATUS = {
  connecting: "Connecting…",
  online: "",
  offline: "Connection lost. Reconnecting… Messages you type now will be sent when we are back.",
};

let uid = 0;

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export class ChatWidget {
  constructor(config = {}) {
    this.config = { ...DEFAULTS, ...config };
    this.config.customData = { ...(config.customData || {}) };
    this.store = new ChatStore(this.config.storage);
    this.socket = null;
    this.ready = false; // connected and the session confirmed
    this.flushing = false;
    this.attempt = 0;
    this.typingTimer = null;
    this.id = `cart-chat-${++uid}`;
    this.build();
    this.restore();
  }

  // ---- Building the interface ----

  build() {
    const c = this.config;
    const id = this.id;
    this.root = element("div", { class: "cart-chat", "data-open": "false" });
    this.root.style.setProperty("--cart-main", c.mainColor);
    this.root.style.setProperty("--cart-user-text", c.userTextColor);

    this.launcher = element("button", {
      type: "button",
      class: "cart-chat__launcher",
      "aria-expanded": "false",
      "aria-controls": `${id}-panel`,
    }, c.launcherLabel);

    this.panel = element("section", {
      id: `${id}-panel`,
      class: "cart-chat__panel",
      "aria-labelledby": `${id}-title`,
      hidden: "",
    });
    const header = element("header", { class: "cart-chat__header" });
    const heading = element("div", { class: "cart-chat__heading" });
    heading.append(
      element("h2", { id: `${id}-title`, class: "cart-chat__title" }, c.title),
      element("p", { class: "cart-chat__subtitle" }, c.subtitle),
    );
    this.closeButton = element("button", {
      type: "button", class: "cart-chat__close", "aria-label": "Close chat",
    }, "×");
    // On a shared family computer the next person must not see (or continue) this talk.
    this.clearButton = element("button", {
      type: "button",
      class: "cart-chat__clear",
      title: "Forget this conversation on this computer and start a new one",
    }, "Clear chat");
    header.append(heading, this.clearButton, this.closeButton);

    this.status = element("p", { class: "cart-chat__status", role: "status" });
    this.list = element("ol", {
      class: "cart-chat__messages",
      "aria-label": "Conversation",
      tabindex: "0", // a scrollable region must be reachable by keyboard
    });
    this.typing = element("p", { class: "cart-chat__typing", hidden: "" });
    this.typing.append(
      element("span", { class: "cart-chat__dot", "aria-hidden": "true" }),
      element("span", { class: "cart-chat__dot", "aria-hidden": "true" }),
      element("span", { class: "cart-chat__dot", "aria-hidden": "true" }),
      element("span", { class: "cart-chat__visually-hidden" }, "The assistant is typing"),
    );

    this.handoff = element("button", {
      type: "button", class: "cart-chat__handoff",
    }, c.handoffTitle);
    this.form = element("form", { class: "cart-chat__composer" });
    this.input = element("textarea", {
      id: `${id}-input`,
      class: "cart-chat__input",
      rows: "2",
      placeholder: c.inputTextFieldHint,
      "aria-describedby": `${id}-note`,
      autocomplete: "off",
    });
    this.note = element("p", { id: `${id}-note`, class: "cart-chat__note", "aria-live": "polite" });
    this.send = element("button", { type: "submit", class: "cart-chat__send" }, "Send");
    const row = element("div", { class: "cart-chat__row" });
    row.append(this.input, this.send);
    this.form.append(
      element("label", { for: `${id}-input`, class: "cart-chat__visually-hidden" }, "Your message"),
      row,
      this.note,
    );
    const footer = element("div", { class: "cart-chat__footer" });
    footer.append(this.handoff, this.form);

    // Bot messages are read out here; the conversation list itself is not a live region,
    // so a restored history is not read out again after a reload.
    this.livePolite = element("div", { class: "cart-chat__visually-hidden", "aria-live": "polite" });
    this.liveUrgent = element("div", {
      class: "cart-chat__visually-hidden", "aria-live": "assertive", role: "alert",
    });

    this.panel.append(header, this.status, this.list, this.typing, footer,
      this.livePolite, this.liveUrgent);
    this.root.append(this.panel, this.launcher);

    this.launcher.addEventListener("click", () => this.toggle());
    this.closeButton.addEventListener("click", () => this.close());
    this.clearButton.addEventListener("click", () => this.clearConversation());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    this.handoff.addEventListener("click", () => {
      this.sendUserMessage(c.handoffPayload, c.handoffTitle);
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitTyped();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submitTyped();
      }
    });
    this.input.addEventListener("input", () => this.checkLength());
  }

  mount(target) {
    (target || document.body).appendChild(this.root);
    if (this.store.state.open) this.open({ focus: false });
    return this;
  }

  restore() {
    for (const message of this.store.state.messages) this.renderMessage(message);
  }

  // ---- Opening and closing ----

  toggle() {
    if (this.panel.hidden) this.open();
    else this.close();
  }

  open({ focus = true } = {}) {
    this.panel.hidden = false;
    this.root.dataset.open = "true";
    this.launcher.setAttribute("aria-expanded", "true");
    this.store.state.open = true;
    this.store.save();
    this.connect();
    this.scrollToEnd();
    if (focus) this.input.focus();
  }

  close() {
    this.panel.hidden = true;
    this.root.dataset.open = "false";
    this.launcher.setAttribute("aria-expanded", "false");
    this.store.state.open = false;
    this.store.save();
    this.launcher.focus();
  }

  /** Forgets the conversation in this browser (its id, messages and unsent messages) and
   * empties the window; the next message starts a new conversation with a new id. */
  clearConversation() {
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
    this.ready = false;
    this.flushing = false;
    this.attempt++; // an acknowledgement still on its way belongs to the old conversation
    this.hideTyping();
    this.store.clear();
    this.list.replaceChildren();
    this.livePolite.textContent = "";
    this.liveUrgent.textContent = "";
    this.input.value = "";
    this.note.textContent = "Chat cleared. Nothing of it is kept on this computer.";
    if (!this.panel.hidden) {
      this.store.state.open = true;
      this.store.save();
      this.connect();
      this.input.focus();
    }
  }

  // ---- Connection ----

  connect() {
    if (this.socket) return;
    this.setStatus("connecting");
    const socket = io(this.config.socketUrl || window.location.origin, {
      path: this.config.socketPath,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket = socket;
    socket.on("connect", () => {
      socket.emit("session_request", { session_id: this.store.state.sessionId });
    });
    socket.on("session_confirm", (confirmed) => {
      const sessionId = typeof confirmed === "string" ? confirmed : confirmed?.session_id;
      if (!sessionId) return;
      const state = this.store.state;
      state.sessionId = sessionId;
      this.ready = true;
      this.setStatus("online");
      if (!state.greeted) {
        // A new conversation: the welcome (with its disclaimer) comes before anything else.
        state.greeted = true;
        state.outbox.unshift({ messageId: null, payload: this.config.initPayload });
      }
      this.store.save();
      this.flush();
    });
    socket.on("bot_uttered", (message) => this.receive(message));
    socket.on("disconnect", (reason) => {
      this.ready = false;
      this.attempt++; // a reply still awaited is sent again after reconnecting
      this.flushing = false;
      this.hideTyping();
      this.setStatus("offline");
      // The server closed on purpose (e.g. restarted): socket.io does not retry by itself.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", () => this.setStatus("offline"));
  }

  setStatus(state) {
    this.root.dataset.connection = state;
    this.status.textContent = STATUS[state] ?? "";
  }

  // ---- Sending ----

  checkLength() {
    const length = this.input.value.length;
    const max = this.config.maxMessageLength;
    if (length > max) {
      this.note.textContent = `That message is a bit long for me (${length} characters; `
        + `I can read up to ${max}). Could you shorten it? `
        + `For a longer talk, use "${this.config.handoffTitle}".`;
      this.input.setAttribute("aria-invalid", "true");
      return false;
    }
    this.note.textContent = "";
    this.input.removeAttribute("aria-invalid");
    return true;
  }

  submitTyped() {
    const text = this.input.value.trim();
    if (!text || !this.checkLength()) return;
    this.input.value = "";
    this.sendUserMessage(text, text);
    this.input.focus();
  }

  /** Shows `shown` as the family's bubble and sends `payload`, now or once back online. */
  sendUserMessage(payload, shown) {
    this.clearQuickReplies();
    const state = this.store.state;
    const message = this.store.addMessage({ from: "user", text: shown, pending: true });
    this.renderMessage(message);
    state.outbox.push({ messageId: message.id, payload });
    this.store.save();
    this.connect();
    this.flush();
  }

  /** Sends the oldest waiting message; the next goes once the server has handled it. */
  flush() {
    const state = this.store.state;
    if (!this.ready || this.flushing || state.outbox.length === 0) return;
    const item = state.outbox[0];
    const attempt = ++this.attempt;
    this.flushing = true;
    this.showTyping();
    this.socket.timeout(this.config.replyTimeoutMs).emit(
      "user_uttered",
      { message: item.payload, session_id: state.sessionId, customData: this.config.customData },
      (error) => {
        if (attempt !== this.attempt) return; // from before a reconnect: already re-queued
        this.flushing = false;
        this.hideTyping();
        // No acknowledgement: the connection dropped; the message stays queued and is
        // sent again after reconnecting.
        if (error) return;
        state.outbox.shift();
        if (item.messageId !== null) {
          this.store.update(item.messageId, { pending: false });
          this.list.querySelector(`[data-id="${item.messageId}"]`)?.removeAttribute("data-pending");
          this.offerFeedback(item.messageId);
        }
        this.store.save();
        this.flush();
      },
    );
  }

  // ---- Receiving ----

  receive(message) {
    if (!message || typeof message !== "object" || typeof message.text !== "string") return;
    const text = message.text.trim();
    if (!text) return;
    const quickReplies = (Array.isArray(message.quick_replies) ? message.quick_replies : [])
      .filter((reply) => reply && typeof reply.title === "string" && typeof reply.payload === "string")
      // "Talk to a coordinator" is always in view below: no second button for it.
      .filter((reply) => reply.payload !== this.config.handoffPayload)
      .map((reply) => ({ title: reply.title, payload: reply.payload }));
    if (quickReplies.length) this.clearQuickReplies();
    // A coordinator typing from the console, or a notice that one joined or left.
    const from = message.sender === "coordinator" ? "coordinator"
      : typeof message.notice === "string" ? "notice" : "bot";
    const stored = this.store.addMessage({
      from,
      name: from === "coordinator" && typeof message.name === "string" ? message.name : undefined,
      text,
      emergency: message.emergency === true,
      quickReplies: quickReplies.length ? quickReplies : undefined,
    });
    this.renderMessage(stored);
    this.announce(stored);
  }

  announce(message) {
    const region = message.emergency ? this.liveUrgent : this.livePolite;
    const line = element("p", {}, plainText(message.text));
    region.append(line);
    while (region.childNodes.length > 5) region.firstChild.remove();
  }

  // ---- Rendering ----

  renderMessage(message) {
    const user = message.from === "user";
    const item = element("li", {
      class: `cart-chat__message cart-chat__message--${user ? "user" : "bot"}`,
      "data-id": String(message.id),
    });
    if (message.emergency) item.classList.add("cart-chat__message--emergency");
    if (message.from === "coordinator") item.classList.add("cart-chat__message--coordinator");
    if (message.from === "notice") item.classList.add("cart-chat__message--notice");
    if (message.pending) item.setAttribute("data-pending", "");
    if (message.from === "coordinator") {
      const name = message.name ? `Coordinator · ${message.name}` : "Coordinator";
      item.append(element("span", { class: "cart-chat__sender" }, name));
    } else {
      const who = user ? "You said:" : message.from === "notice" ? "Notice:" : "Assistant:";
      item.append(element("span", { class: "cart-chat__visually-hidden" }, who));
    }
    const bubble = element("div", { class: "cart-chat__bubble" });
    // A person's words are shown exactly as typed; the assistant's answers use Markdown.
    const plain = user || message.from === "coordinator";
    bubble.append(plain ? renderPlain(message.text) : renderMarkdown(message.text));
    item.append(bubble);
    if (message.pending) {
      item.append(element("span", { class: "cart-chat__pending" }, "Waiting to send"));
    }
    // Right under the answer, before its suggested replies (they stay next to the input).
    if (message.feedback === "ask") item.append(this.renderFeedbackFor(message));
    if (message.quickReplies) item.append(this.renderQuickReplies(message.quickReplies));
    this.list.append(item);
    this.scrollToEnd();
  }

  // ---- "Was this helpful?" ----

  /** After the assistant answered the family's message `messageId`: one offer to rate the
   * answer, under its last message. Only the latest answer keeps an unanswered offer. */
  offerFeedback(messageId) {
    if (!this.config.feedbackUrl) return;
    const messages = this.store.state.messages;
    const replies = messages.filter((m) => m.id > messageId && m.from !== "user");
    const rated = ratedReply(replies, this.config.feedbackSkip);
    if (!rated) return;
    for (const m of messages) {
      if (m.feedback === "ask" && m !== rated) {
        m.feedback = "expired";
        this.list.querySelector(`[data-id="${m.id}"] .cart-chat__feedback`)?.remove();
      }
    }
    rated.feedback = "ask";
    this.store.save();
    this.list.querySelector(`[data-id="${rated.id}"] .cart-chat__bubble`)
      ?.after(this.renderFeedbackFor(rated));
  }

  renderFeedbackFor(message) {
    return renderFeedback({
      maxLength: MAX_COMMENT_LENGTH,
      onRate: (helpful, comment) => {
        this.store.update(message.id, { feedback: helpful ? "yes" : "no" });
        postFeedback(this.config.feedbackUrl, {
          conversationId: this.store.state.sessionId,
          answer: message.text,
          helpful,
          comment: cleanComment(comment),
        });
      },
      onDone: () => this.input.focus(),
    });
  }

  renderQuickReplies(replies) {
    const group = element("div", {
      class: "cart-chat__quick-replies", role: "group", "aria-label": "Suggested replies",
    });
    for (const reply of replies) {
      const button = element("button", { type: "button", class: "cart-chat__quick-reply" },
        reply.title);
      button.addEventListener("click", () => {
        this.sendUserMessage(reply.payload, reply.title);
        this.input.focus(); // the buttons are gone: keyboard users continue in the input
      });
      group.append(button);
    }
    return group;
  }

  clearQuickReplies() {
    this.list.querySelectorAll(".cart-chat__quick-replies").forEach((group) => group.remove());
    this.store.clearQuickReplies();
  }

  showTyping() {
    this.typing.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideTyping(), this.config.replyTimeoutMs);
    this.scrollToEnd();
  }

  hideTyping() {
    clearTimeout(this.typingTimer);
    this.typing.hidden = true;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}
