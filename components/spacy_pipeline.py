"""Builds the project's own spaCy pipeline, which Rasa's `SpacyNLP` loads by path.

No pretrained English pipeline can be installed here, so this makes one from code:
blank English, the lookup lemmatizer from `spacy-lookups-data`, and an entity ruler
with the domain's entities from `content/entity_patterns.yml`.

    python -m components.spacy_pipeline build/spacy_pipeline
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language

PATTERNS_FILE = Path(__file__).resolve().parent.parent / "content" / "entity_patterns.yml"


def ruler_patterns(patterns_file: Path = PATTERNS_FILE) -> list[dict[str, Any]]:
    """The entity ruler's patterns, one dict per phrase or token pattern."""
    spec = yaml.safe_load(patterns_file.read_text(encoding="utf-8"))
    patterns: list[dict[str, Any]] = []
    for label, kinds in spec.items():
        # Longer phrases first, so "relapsed twice" wins over "relapsed".
        for phrase in sorted(kinds.get("phrases", []), key=len, reverse=True):
            patterns.append({"label": label, "pattern": str(phrase)})
        for token_pattern in kinds.get("tokens", []):
            patterns.append({"label": label, "pattern": token_pattern})
    return patterns


def build_pipeline(patterns_file: Path = PATTERNS_FILE) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe(
        "entity_ruler",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
    )
    nlp.initialize()
    # After initialize(): it would otherwise reset the ruler and drop the patterns.
    ruler.add_patterns(ruler_patterns(patterns_file))  # type: ignore[attr-defined]
    nlp.meta["name"] = "cart_assistant_pipeline"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + CAR T entity ruler"
    return nlp


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTPUT_DIR", file=sys.stderr)
        return 2
    output = Path(argv[1])
    output.parent.mkdir(parents=True, exist_ok=True)
    build_pipeline().to_disk(output)
    print(f"spaCy pipeline written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
