"""Answering the question that interrupted the pre-screen."""

from actions.content import ActionAnswerQuestion, response_for_intent
from tests.action_helper import load_domain, make_tracker, run_action


def test_answers_with_the_topic_response() -> None:
    run = run_action(ActionAnswerQuestion(), make_tracker(intent="cost_insurance"))
    assert run.responses == ["utter_cost_insurance"]
    assert run.events == []


def test_unknown_or_missing_intent_gets_the_kind_default() -> None:
    domain = load_domain()
    assert response_for_intent("no_such_topic", domain) == "utter_default"
    assert response_for_intent(None, domain) == "utter_default"
    run = run_action(ActionAnswerQuestion(), make_tracker(intent=None))
    assert run.responses == ["utter_default"]
