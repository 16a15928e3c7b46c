"""The held-out sets measure understanding, not memory: no sentence of theirs, and no
near-copy of one, is in the training data (tests/heldout/README.md says how they were made)."""

from __future__ import annotations

from core.emergency_detector import examples_by_writer
from core.evaluation_sets import (
    HELDOUT_DIR,
    STYLES,
    load_questions,
    load_safety,
    near_copies,
    normalise,
    training_examples,
)
from core.suggestions import parent_topic
from tests.test_answers import faq_topics

# Character-trigram Jaccard at or above this is a near-copy ("what is car t therapy?" vs
# "what is car-t therapy"); measured pairs of honest paraphrases stay well below it.
NEAR_COPY = 0.8


def test_no_held_out_question_is_in_the_training_data() -> None:
    training = {normalise(text) for _, text in training_examples()}
    held_out = [q.text for q in load_questions(HELDOUT_DIR)]
    held_out += [m.text for m in load_safety(HELDOUT_DIR)]
    copied = [text for text in held_out if normalise(text) in training]
    assert not copied, copied


def test_no_held_out_question_is_a_near_copy_of_a_training_example() -> None:
    training = [text for _, text in training_examples()]
    held_out = [q.text for q in load_questions(HELDOUT_DIR)]
    held_out += [m.text for m in load_safety(HELDOUT_DIR)]
    pairs = near_copies(held_out, training, NEAR_COPY)
    assert not pairs, pairs[:10]


def test_no_held_out_safety_message_is_a_copy_of_an_earlier_writers_message() -> None:
    """The second emergency detector trains on the earlier writers' sets (tests/dev/):
    the held-out safety messages must be new to it too. (Questions are only checked against
    the training data: writers often ask the same short questions, "What Is ICANS".)"""
    earlier = [text for messages in examples_by_writer().values() for text, _ in messages]
    held_out = [m.text for m in load_safety(HELDOUT_DIR)]
    known = {normalise(text) for text in earlier}
    assert not [text for text in held_out if normalise(text) in known]
    pairs = near_copies(held_out, earlier, NEAR_COPY)
    assert not pairs, pairs[:10]


def test_the_near_copy_check_catches_near_copies() -> None:
    pairs = near_copies(["What is CAR-T therapy?"], ["what is car t therapy", "cost of kymriah"])
    assert [p[1] for p in pairs] == ["what is car t therapy"]


def test_held_out_understanding_set_covers_every_topic_and_style() -> None:
    questions = load_questions(HELDOUT_DIR)
    assert len(questions) >= 250
    topics = {parent_topic(q.topic) for q in questions}
    assert set(faq_topics()) <= topics
    for style in STYLES:
        assert sum(q.style == style for q in questions) >= 40, style
    for topic in faq_topics():
        assert sum(q.topic == topic for q in questions) >= 12, topic


def test_held_out_safety_set_has_both_sides_and_spanish() -> None:
    messages = load_safety(HELDOUT_DIR)
    assert sum(m.emergency for m in messages) >= 150
    assert sum(not m.emergency for m in messages) >= 100
    assert sum(m.language == "es" and m.emergency for m in messages) >= 20
