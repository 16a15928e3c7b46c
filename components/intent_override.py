"""How the deterministic NLU components (language screen, nonsense screen, red-flag
override) put their intent first: certain, with the model's own ranking kept after it,
so the "Did you mean…?" offer and the logs still see what the model thought."""

from __future__ import annotations

from typing import Any

from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message


def put_first(message: Message, intent: str) -> list[dict[str, Any]]:
    """Makes `intent` the message's intent (confidence 1.0) and the top of its ranking;
    returns the rest of the ranking, in the model's order."""
    top = {INTENT_NAME_KEY: intent, "confidence": 1.0}
    rest = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent]
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top, *rest], add_to_output=True)
    return rest
