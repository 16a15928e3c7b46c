"""The project's own spaCy pipeline, built from code: lemmas and the domain's entities."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from components.spacy_pipeline import build_pipeline


@pytest.fixture(scope="module")
def nlp(tmp_path_factory: pytest.TempPathFactory) -> spacy.language.Language:
    path: Path = tmp_path_factory.mktemp("spacy") / "pipeline"
    build_pipeline().to_disk(path)
    return spacy.load(path)  # as Rasa's SpacyNLP loads it: from disk, by path


def entities(nlp: spacy.language.Language, text: str) -> list[tuple[str, str]]:
    return [(e.text, e.label_) for e in nlp(text).ents]


def test_pipeline_is_blank_english_with_lemmatizer_and_ruler(nlp: spacy.language.Language) -> None:
    assert nlp.lang == "en"
    assert nlp.pipe_names == ["lemmatizer", "entity_ruler"]
    assert [t.lemma_ for t in nlp("she relapsed twice")] == ["she", "relapse", "twice"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "my 7 year old has relapsed twice",
            [("7 year old", "age"), ("relapsed twice", "relapse_status")],
        ),
        ("our daughter is 14yo with B-cell ALL", [("14yo", "age"), ("B-cell ALL", "diagnosis")]),
        ("she is 18 months old", [("18 months old", "age")]),
        ("is kymria the same as car-t", [("kymria", "product"), ("car-t", "product")]),
        (
            "he has ALL and didn't respond",
            [("ALL", "diagnosis"), ("didn't respond", "relapse_status")],
        ),
        ("all the steps please", []),
    ],
)
def test_entities(nlp: spacy.language.Language, text: str, expected: list[tuple[str, str]]) -> None:
    assert entities(nlp, text) == expected
