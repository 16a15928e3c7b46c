// "Was this helpful?" under an answer (issue #17): which answer is offered it, and how a
// rating reaches the server. The DOM is built in render.js (renderFeedback).
//
// Transport: a small JSON POST to the families' page's own server (config.feedbackUrl,
// web/server.py), not an event on the socket.io connection: a rating is not a message to
// the assistant (no turn, nothing in the dialogue), it works while a coordinator has
// paused the assistant, and the server checks it is same-origin and ties it to the
// answer in the stored conversation.

export const MAX_COMMENT_LENGTH = 200;

/**
 * The reply of one turn that may be rated: its last message, if the turn was an answer
 * from the assistant (no emergency in it, no coordinator or notice, not a form question
 * or greeting, whose openings are in `skip`); otherwise null.
 */
export function ratedReply(replies, skip = []) {
  if (!replies.length) return null;
  if (replies.some((m) => m.from !== "bot" || m.emergency)) return null;
  const last = replies[replies.length - 1];
  const text = (last.text || "").trim();
  if (!text || skip.some((opening) => text.startsWith(opening))) return null;
  return last;
}

/** One line, at most MAX_COMMENT_LENGTH characters. */
export function cleanComment(value) {
  return String(value || "").replace(/\s+/g, " ").trim().slice(0, MAX_COMMENT_LENGTH);
}

/** Sends a rating; resolves true when the server took it (or had it already). */
export async function postFeedback(url, { conversationId, answer, helpful, comment = "" }) {
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        conversation_id: conversationId,
        answer,
        helpful,
        ...(comment ? { comment } : {}),
      }),
    });
    return response.ok;
  } catch {
    return false; // offline: a rating is not worth a retry queue
  }
}
