"""The channels' checks on their own: rate limits, addresses, origins, metadata, the
language screen and the action-server check."""

from __future__ import annotations

import pytest

from channels.action_server import watching_action_failures
from channels.guard import (
    FloodGuard,
    SlidingWindowLimit,
    client_address,
    origin_allowed,
    screen_metadata,
)
from core.language import other_language
from tests.servers import ROOT


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_limit_admits_its_count_per_window_then_frees_up() -> None:
    clock = Clock()
    limit = SlidingWindowLimit(3, window=60, clock=clock)
    for _ in range(3):
        assert limit.has_room("a")
        limit.record("a")
    assert not limit.has_room("a")
    assert limit.has_room("b")  # per key
    assert 1 <= limit.retry_after("a") <= 61
    clock.now += 60.5
    assert limit.has_room("a")


def test_zero_means_no_limit_and_keys_are_bounded() -> None:
    assert all(SlidingWindowLimit(0).has_room("x") for _ in range(1000))
    limit = SlidingWindowLimit(1, max_keys=10)
    for n in range(100):
        limit.record(f"sender-{n}")
    assert len(limit._events) == 10  # a flood of made-up ids cannot grow memory


def test_the_guard_counts_only_what_it_admits() -> None:
    from core.settings import load_channel_settings

    settings = load_channel_settings()
    clock = Clock()
    guard = FloodGuard(
        type(settings)(
            **{**settings.__dict__, "sender_messages_per_minute": 2,
               "address_messages_per_minute": 3}
        ),
        clock=clock,
    )  # fmt: skip
    assert guard.admit("s1", "10.0.0.1") and guard.admit("s1", "10.0.0.1")
    assert not guard.admit("s1", "10.0.0.1")  # the conversation's limit
    assert guard.admit("s2", "10.0.0.1")
    assert not guard.admit("s3", "10.0.0.1")  # the address's limit, refused ones not counted
    assert guard.admit("s3", "10.0.0.2")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not a trusted proxy: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),  # nearest untrusted
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.2"),
    ],
)
def test_client_address_believes_only_trusted_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_address(peer, forwarded, ("10.0.0.2", "10.0.0.3")) == expected


def test_trusted_proxies_may_be_networks() -> None:
    assert client_address("10.1.2.3", "198.51.100.7", ("10.0.0.0/8",)) == "198.51.100.7"
    assert client_address("11.1.2.3", "198.51.100.7", ("10.0.0.0/8",)) == "11.1.2.3"


def test_origins() -> None:
    allowed = ("https://hospital.example",)
    assert origin_allowed(None, allowed)
    assert origin_allowed("https://hospital.example", allowed)
    assert not origin_allowed("https://evil.example", allowed)
    assert not origin_allowed("null", allowed)


@pytest.mark.parametrize(
    ("metadata", "kept"),
    [
        ({"page": "/car-t"}, True),
        ('{"page": "/car-t"}', True),
        ({"blob": "x" * 5000}, False),
        ("not json", False),
        (["a", "list"], False),
        (None, False),
        (42, False),
    ],
)
def test_metadata_is_bounded(metadata: object, kept: bool) -> None:
    screened = screen_metadata(metadata, 4096)
    assert (screened == {"page": "/car-t"}) if kept else (screened == {})


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿Qué es la terapia CAR T para mi hijo?", "spanish"),
        ("mi hijo tiene fiebre", "spanish"),
        ("Meu filho tem leucemia, o que fazer?", "portuguese"),
        ("bonjour, je veux parler avec quelqu'un", "french"),
        ("这是什么治疗", "other script"),
        ("مرحبا، ما هو العلاج؟", "other script"),
        ("Привет, мой сын болен", "other script"),
        ("What is KYMRIAH?", None),
        ("my son is 7 and has B-ALL", None),
        ("Ana e Luis da Silva", None),  # a name in the handoff form
        ("Jose Luis de la Fuente", None),
        ("😀😀😀", None),
        ("hola", None),
        ("", None),
    ],
)
def test_other_languages_are_recognised(text: str, language: str | None) -> None:
    assert other_language(text) == language


def test_the_language_screen_is_in_the_pipeline_before_the_red_flag_override() -> None:
    config = (ROOT / "config.yml").read_text(encoding="utf-8")
    assert config.index("LanguageScreen") < config.index("RedFlagOverride")


def test_action_failures_are_noticed_per_message() -> None:
    import logging

    processor = logging.getLogger("rasa.core.processor")
    with watching_action_failures() as failures:
        processor.error("Encountered an exception while running action 'handoff_form'.")
        processor.error("Something else")
    processor.error("Encountered an exception while running action 'x'.")  # not watched
    assert failures == ["ERROR"]
    with watching_action_failures() as later:
        pass
    assert later == []
