"""An honest answer when the action server fails.

The pre-screen and the handoff run on the action server. When it is down or answers with
an error, Rasa logs "Encountered an exception while running action ..." and goes on as
if the action had done nothing: the family would be left without an answer. The channels
handle each message inside `watching_action_failures()`, which notices that log record
for this message only (a context variable: other families' messages are other tasks);
then `explain_actions_failed` tells the family that this part is unavailable, with the
phone number and email. The answer is a response in domain.yml, run through Rasa so it
is in the conversation's history. FAQs do not need the action server, and once it is
back the next message works normally: nothing is remembered between messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rasa.core.channels.channel import OutputChannel
from rasa.core.policies.policy import PolicyPrediction
from rasa.shared.core.constants import ACTION_LISTEN_NAME

logger = logging.getLogger(__name__)

UNAVAILABLE_RESPONSE = "utter_service_unavailable"
# What rasa.core.processor logs when a custom action fails (Rasa 3.6, _run_action).
FAILURE_LOGGER = "rasa.core.processor"
FAILURE_MESSAGE = "Encountered an exception while running action"

_failures_of_this_message: ContextVar[list[str] | None] = ContextVar(
    "failures_of_this_message", default=None
)


class _FailureWatch(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        failures = _failures_of_this_message.get()
        if failures is not None and str(record.msg).startswith(FAILURE_MESSAGE):
            failures.append(record.levelname)


_watch = _FailureWatch(level=logging.ERROR)


@contextmanager
def watching_action_failures() -> Iterator[list[str]]:
    """Collects the custom-action failures of the message handled inside."""
    failure_logger = logging.getLogger(FAILURE_LOGGER)
    if _watch not in failure_logger.handlers:
        failure_logger.addHandler(_watch)
    failures: list[str] = []
    token = _failures_of_this_message.set(failures)
    try:
        yield failures
    finally:
        _failures_of_this_message.reset(token)


async def explain_actions_failed(app: Any, sender_id: str, output: OutputChannel) -> None:
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    if agent is None or agent.processor is None:
        return
    logger.warning("Told a family that the pre-screen and handoff are unavailable")
    async with agent.lock_store.lock(sender_id):
        for action in (UNAVAILABLE_RESPONSE, ACTION_LISTEN_NAME):
            await agent.processor.execute_action(
                sender_id,
                action,
                output,
                agent.processor.nlg,
                PolicyPrediction.for_action_name(agent.domain, action),
            )
