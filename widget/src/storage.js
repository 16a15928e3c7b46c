// The conversation kept in the browser, so it survives a reload and a closed panel.
// sessionStorage by default: it is gone when the tab closes, which matters on a shared
// family computer; `storage: "local"` keeps it across tabs and restarts.

const KEY = "cart-chat:v1";
const MAX_MESSAGES = 200;

function pick(kind) {
  try {
    const store = kind === "local" ? window.localStorage : window.sessionStorage;
    const probe = `${KEY}:probe`;
    store.setItem(probe, "1");
    store.removeItem(probe);
    return store;
  } catch {
    return null; // storage blocked (private mode, policy): the chat still works, unsaved
  }
}

export function emptyState() {
  return { sessionId: null, open: false, messages: [], outbox: [], nextId: 1 };
}

export class ChatStore {
  constructor(kind) {
    this.store = pick(kind);
    this.state = this.load();
  }

  load() {
    try {
      const saved = JSON.parse(this.store?.getItem(KEY) || "null");
      if (saved && Array.isArray(saved.messages) && Array.isArray(saved.outbox)) {
        return { ...emptyState(), ...saved };
      }
    } catch {
      // unreadable: start afresh rather than fail
    }
    return emptyState();
  }

  save() {
    const state = this.state;
    if (state.messages.length > MAX_MESSAGES) {
      state.messages = state.messages.slice(-MAX_MESSAGES);
    }
    try {
      this.store?.setItem(KEY, JSON.stringify(state));
    } catch {
      // full or blocked: the conversation goes on, only unsaved
    }
  }

  addMessage(message) {
    const stored = { id: this.state.nextId++, at: Date.now(), ...message };
    this.state.messages.push(stored);
    this.save();
    return stored;
  }

  update(id, changes) {
    const message = this.state.messages.find((m) => m.id === id);
    if (message) Object.assign(message, changes);
    this.save();
    return message;
  }

  clearQuickReplies() {
    for (const message of this.state.messages) delete message.quickReplies;
    this.save();
  }

  /** Forgets everything: the conversation id, its messages and what was not yet sent. */
  clear() {
    this.state = emptyState();
    try {
      this.store?.removeItem(KEY);
    } catch {
      // blocked: nothing was saved either
    }
  }
}
