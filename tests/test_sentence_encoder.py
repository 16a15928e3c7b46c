"""The sentence model the intent classifier consults (core/sentence_encoder.py): the
graph built by `make install` gives the same tokens and vectors as the model's own
libraries, and nothing but the official weights is ever built or loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from components.sentence_model import build_graph, verify_weights
from core.sentence_encoder import (
    DEFAULT_MODEL_DIR,
    GRAPH_FILE,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    SentenceEncoder,
    SentenceModelMissing,
    shared_encoder,
)

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "sentence_model_reference.json").read_text(encoding="utf-8")
)["examples"]


def test_tokens_are_the_models_own_tokenizers() -> None:
    """Accents, Spanish punctuation, CJK, emoji, tabs, an empty message, truncation at 128."""
    tokenizer = shared_encoder().tokenizer
    for example in REFERENCE:
        assert tokenizer.encode(example["text"]) == example["ids"], example["text"]


def test_vectors_are_the_models_own() -> None:
    vectors = shared_encoder().encode([example["text"] for example in REFERENCE])
    for example, vector in zip(REFERENCE, vectors, strict=True):
        assert np.abs(vector - np.array(example["vector"])).max() < 1e-5, example["text"]
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_batches_give_the_vectors_each_text_gets_alone() -> None:
    """Padding in a batch of different lengths changes nothing."""
    texts = ["hi", "How long is the hospital stay after the infusion of the cells?", "cost"]
    encoder = shared_encoder()
    together = encoder.encode(texts, batch_size=3)
    for text, vector in zip(texts, together, strict=True):
        assert np.abs(encoder.encode([text])[0] - vector).max() < 1e-5


def test_meaning_is_closer_for_paraphrases_than_for_other_topics() -> None:
    cost, price, lodging = shared_encoder().encode(
        ["how much does the treatment cost", "what is the price of kymriah",
         "where can our family stay near the hospital"]
    )  # fmt: skip
    assert cost @ price > cost @ lodging


def test_a_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SentenceModelMissing, match="make install"):
        SentenceEncoder(tmp_path)


def test_a_graph_not_built_from_the_official_weights_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    identity = helper.make_graph(
        [helper.make_node("Identity", ["input_ids"], ["embedding"])], "other",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"])],
        [helper.make_tensor_value_info("embedding", TensorProto.INT64, ["b", "t"])],
    )  # fmt: skip
    model = helper.make_model(identity, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / GRAPH_FILE))
    shutil.copy(DEFAULT_MODEL_DIR / VOCABULARY_FILE, tmp_path / VOCABULARY_FILE)
    with pytest.raises(SentenceModelMissing, match="official weights"):
        SentenceEncoder(tmp_path)


def test_weights_that_are_not_the_official_file_are_removed_and_never_built(
    tmp_path: Path,
) -> None:
    forged = tmp_path / WEIGHTS_FILE
    forged.write_bytes((DEFAULT_MODEL_DIR / WEIGHTS_FILE).read_bytes()[:-1] + b"\x00")
    with pytest.raises(SentenceModelMissing, match="not the official"):
        build_graph(forged, tmp_path / GRAPH_FILE)
    assert not forged.exists() and not (tmp_path / GRAPH_FILE).exists()
    verify_weights(DEFAULT_MODEL_DIR / WEIGHTS_FILE)  # the real file passes


def test_a_vocabulary_that_is_not_the_models_own_is_refused(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL_DIR / GRAPH_FILE, tmp_path / GRAPH_FILE)
    vocabulary = json.loads((DEFAULT_MODEL_DIR / VOCABULARY_FILE).read_text(encoding="utf-8"))
    vocabulary["model"]["vocab"]["fever"] = 0  # one word mapped elsewhere
    (tmp_path / VOCABULARY_FILE).write_text(json.dumps(vocabulary), encoding="utf-8")
    with pytest.raises(SentenceModelMissing, match="vocabulary"):
        SentenceEncoder(tmp_path)


def test_text_without_words_is_told_apart() -> None:
    encoder = shared_encoder()
    assert not encoder.has_words("\u200b") and not encoder.has_words("")
    assert encoder.has_words("fever") and encoder.has_words("🙏")  # emoji: [UNK], a token
