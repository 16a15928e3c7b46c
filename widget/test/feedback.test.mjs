// "Was this helpful?": which reply is offered it, and what is posted (to a real server).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { cleanComment, postFeedback, ratedReply } from "../src/feedback.js";

const bot = (id, text, extra = {}) => ({ id, from: "bot", text, ...extra });

test("the last message of an answer is rated", () => {
  const replies = [bot(3, "If this is happening now: call 911."), bot(4, "CRS is a reaction.")];
  assert.equal(ratedReply(replies, []).id, 4);
});

test("no rating under an emergency, a coordinator, a notice or nothing", () => {
  assert.equal(ratedReply([], []), null);
  assert.equal(ratedReply([bot(2, "Call 911 now", { emergency: true }), bot(3, "I'm an")], []),
    null);
  assert.equal(ratedReply([{ id: 2, from: "coordinator", text: "Hi, Alex here" }], []), null);
  assert.equal(ratedReply([{ id: 2, from: "notice", text: "A coordinator joined" }], []), null);
});

test("no rating under a form question or the greeting (their openings come from the page)", () => {
  const skip = ["What is your name?", "Hello! I can answer questions about CAR "];
  assert.equal(ratedReply([bot(2, "What is your name?")], skip), null);
  assert.equal(ratedReply([bot(2, "Hello! I can answer questions about CAR T-cell")], skip), null);
  assert.equal(ratedReply([bot(2, "CAR T-cell therapy is a cancer treatment.")], skip).id, 2);
});

test("a comment is one line of at most 200 characters", () => {
  assert.equal(cleanComment("  cost \n of   travel "), "cost of travel");
  assert.equal(cleanComment("x".repeat(500)).length, 200);
  assert.equal(cleanComment(undefined), "");
});

test("a rating is posted as JSON to the page's server; a refusal or no server is false", async () => {
  const received = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => { body += chunk; });
    request.on("end", () => {
      received.push({ type: request.headers["content-type"], body: JSON.parse(body) });
      response.statusCode = received.length === 1 ? 201 : 404;
      response.end("{}");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/feedback`;
  try {
    const rating = { conversationId: "abc123", answer: "CRS is a reaction.", helpful: false };
    assert.equal(await postFeedback(url, { ...rating, comment: "cost of travel" }), true);
    assert.deepEqual(received[0], {
      type: "application/json",
      body: { conversation_id: "abc123", answer: "CRS is a reaction.", helpful: false,
        comment: "cost of travel" },
    });
    assert.equal(await postFeedback(url, rating), false);
    assert.deepEqual(received[1].body, { conversation_id: "abc123",
      answer: "CRS is a reaction.", helpful: false });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(await postFeedback(url, { conversationId: "a", answer: "b", helpful: true }), false);
});
