"""Triage of one message: is a warning sign happening now, mentioned, or neither?

Runs on every user message (components.red_flag_override, and the channels for messages
they refuse). Three outcomes:

- EMERGENCY: a warning sign described as happening now to the patient. The emergency
  answer comes first, whatever the model thinks.
- MENTION: a warning sign the message does not place clearly (what if, will he get,
  an undated sign in a question). The family gets the answer they asked for, after one
  short safety line.
- NONE: no warning sign, or one that is clearly past, negated, someone else's or asked
  about in general.

The words live in content/red_flags.yml; this module only decides. Matching is done by
spaCy's Matcher on lemmas (English) and on accent-free words (Spanish), so "he's burning
up", "burnt up" and "burn up" are one phrase. Every step is linear in the length of the
text, and the text is capped first, so a crafted message cannot stall the server.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
import yaml
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span

RED_FLAGS_FILE = Path(__file__).resolve().parent.parent / "content" / "red_flags.yml"

# Longer than any message a channel accepts (CART_MAX_MESSAGE_LENGTH, 2,000 by default);
# the channels screen the start of an over-long message with the same cap.
MAX_SCREENED_CHARS = 4000
MAX_SIGNS_READ = 40
NORMAL_TEMPERATURE = "temperature_normal"


class Verdict(str, Enum):
    NONE = "none"
    MENTION = "mention"
    EMERGENCY = "emergency"


class Reading(str, Enum):
    """How one sign in the message is meant."""

    NOW = "now"
    UNCLEAR = "unclear"
    HYPOTHETICAL = "hypothetical"
    GENERAL = "general"
    PAST = "past"
    SOMEONE_ELSE = "someone_else"
    NEGATED = "negated"


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    signs: tuple[str, ...] = field(default_factory=tuple)
    language: str = "en"
    readings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "signs": list(self.signs),
            "language": self.language,
            "readings": list(self.readings),
        }


# --- text clean-up before spaCy: contractions and glued units -------------------------

_CONTRACTIONS = [
    (re.compile(r"\b(can't|cant|cannot|can not)\b"), "can not"),
    (re.compile(r"\b(won't|wont)\b"), "will not"),
    (re.compile(r"\b(don't|dont)\b"), "do not"),
    (re.compile(r"\b(doesn't|doesnt|dosent|dosnt|doesent)\b"), "does not"),
    (re.compile(r"\b(didn't|didnt)\b"), "did not"),
    (re.compile(r"\b(isn't|isnt)\b"), "is not"),
    (re.compile(r"\b(wasn't|wasnt)\b"), "was not"),
    (re.compile(r"\b(hasn't|hasnt)\b"), "has not"),
    (re.compile(r"\b(haven't|havent)\b"), "have not"),
    (re.compile(r"\b(hadn't|hadnt)\b"), "had not"),
    (re.compile(r"\b(aren't|arent)\b"), "are not"),
    (re.compile(r"\b(couldn't|couldnt)\b"), "could not"),
    (re.compile(r"\b(he's|hes)\b"), "he is"),
    (re.compile(r"\b(she's|shes)\b"), "she is"),
    (re.compile(r"\b(i'm|im)\b"), "i am"),
    # "its gone now": phones drop the apostrophe; "stopped on its own" keeps its "its".
    (re.compile(r"\b(it's|its)\b(?! own\b)"), "it is"),
    (re.compile(r"\b(that's|thats)\b"), "that is"),
    (re.compile(r"\b(what's|whats)\b"), "what is"),
    (re.compile(r"\b(there's|theres)\b"), "there is"),
    (re.compile(r"\b(they're|theyre)\b"), "they are"),
    (re.compile(r"\b(we're)\b"), "we are"),
    (re.compile(r"\b(i've|ive)\b"), "i have"),
    (re.compile(r"\b(they've|theyve)\b"), "they have"),
    (re.compile(r"\b(we've|weve)\b"), "we have"),
    (re.compile(r"\b(he'd)\b"), "he had"),
    (re.compile(r"\b(she'd)\b"), "she had"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"n't\b"), " not"),
]
# "38.6c", "101.5°f", "39,2°" -> "38.6 c"; a decimal comma becomes a point.
_GLUED_UNIT = re.compile(r"(\d)\s?(°\s?[cf]?|[cf]\b|deg\b|degrees\b)")
_DECIMAL_COMMA = re.compile(r"(\d),(\d)\b")
# "1 0 2 . 3" (typed one-handed, or read out digit by digit).
_SPACED_READING = re.compile(r"\b([1-4]) ([0-9])(?: ([0-9]))? ?(\.) ?([0-9])\b")
_NUMBER = re.compile(r"^\d{2,3}(\.\d{1,2})?$")


def _fold_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def clean(text: str) -> str:
    """Lower case, straight apostrophes, contractions spelled out, units split off."""
    text = (text or "")[:MAX_SCREENED_CHARS]
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00b4", "'").lower()
    text = text.replace("º", "°")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    text = _DECIMAL_COMMA.sub(r"\1.\2", text)
    text = _SPACED_READING.sub(lambda m: "".join(m.groups("")), text)
    text = _spell_out_numbers(text)
    return _GLUED_UNIT.sub(r"\1 \2", text)


# "one hundred and one point two", "thirty-eight point six", "38 point 6": readings typed
# in words. Linear regular expressions, no nesting.
_DIGIT_WORDS = {
    w: str(i)
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
}
_DIGIT_WORD = "|".join(_DIGIT_WORDS)
_HUNDREDS = re.compile(
    rf"\b(?:one |a )?hundred(?: and)?(?: ({_DIGIT_WORD}))?(?: point ({_DIGIT_WORD}|\d))?\b"
)
_TENS = re.compile(
    rf"\b(thirty|ninety)[- ](five|six|seven|eight|nine)(?: point ({_DIGIT_WORD}|\d))?\b"
)
_POINT = re.compile(rf"\b(\d{{2,3}}) point ({_DIGIT_WORD}|\d)\b")


def _digit(word: str | None) -> str:
    return _DIGIT_WORDS.get(word or "", word or "")


def _spell_out_numbers(text: str) -> str:
    if "hundred" in text:
        text = _HUNDREDS.sub(
            lambda m: (
                "10"
                + _digit(m.group(1) or "zero")
                + ("." + _digit(m.group(2)) if m.group(2) else "")
            ),
            text,
        )
    if "thirty" in text or "ninety" in text:
        text = _TENS.sub(
            lambda m: (
                ("3" if m.group(1) == "thirty" else "9")
                + _digit(m.group(2))
                + ("." + _digit(m.group(3)) if m.group(3) else "")
            ),
            text,
        )
    if " point " in text:
        text = _POINT.sub(lambda m: m.group(1) + "." + _digit(m.group(2)), text)
    return text


# --- phrases from the YAML file to Matcher patterns -----------------------------------


def _token_pattern(word: str, attr: str, normalise: Any) -> dict[str, Any]:
    optional = word.endswith("?") and len(word) > 1
    word = word.rstrip("?") if optional else word
    if word.startswith("re:"):  # a token matching a regular expression: "re:^1[4-9]\d$"
        spec: dict[str, Any] = {"LOWER": {"REGEX": word[3:]}}
    elif word == "_":
        spec = {"IS_PUNCT": False}
    elif word.startswith("=") and "|" in word:  # written forms: "=was|=were"
        spec = {"LOWER": {"IN": [w.lstrip("=") for w in word.split("|")]}}
    elif word.startswith("=") and len(word) > 1:  # the word as written: "=was", not "be"
        spec = {"LOWER": word[1:]}
    elif word.endswith("*"):
        spec = {attr: {"REGEX": "^" + re.escape(normalise(word[:-1]))}}
    elif "|" in word:
        spec = {attr: {"IN": [normalise(w) for w in word.split("|")]}}
    else:
        spec = {attr: normalise(word)}
    if optional:
        spec["OP"] = "?"
    return spec


def _phrase_patterns(
    phrases: Iterable[str], attr: str, normalise: Any, split: Any
) -> list[list[dict[str, Any]]]:
    return [[_token_pattern(w, attr, normalise) for w in split(str(p))] for p in phrases]


class _Language:
    """One language's matchers: signs, and the context words around them."""

    def __init__(
        self,
        nlp: Language,
        spec: dict[str, Any],
        attr: str,
        normalise: Any,
        split: Any,
    ) -> None:
        self.nlp = nlp
        self.attr = attr
        self.signs = Matcher(nlp.vocab)
        for sign, phrases in spec["signs"].items():
            self.signs.add(sign, _phrase_patterns(phrases, attr, normalise, split))
        self.context = Matcher(nlp.vocab)
        for kind, phrases in spec["context"].items():
            self.context.add(kind, _phrase_patterns(phrases, attr, normalise, split))


@dataclass(frozen=True)
class _Sign:
    name: str
    start: int
    end: int


class Triage:
    """Loads the words once; `assess(text)` is then pure and quick."""

    def __init__(self, path: Path = RED_FLAGS_FILE) -> None:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        english = spec["english"]
        self._spelling: dict[str, str] = english["spelling"]
        self._temperature = english["temperature"]
        self._en_nlp = spacy.blank("en")
        self._en_nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        self._en_nlp.initialize()
        lemmatizer: Any = self._en_nlp.get_pipe("lemmatizer")
        self._lemmas = lemmatizer.lookups.get_table("lemma_lookup")
        # The lemmas spaCy's lookup table knows (its keys are hashes, see `knows`); an unknown
        # word may be a typo of a sign's word.
        self._known = frozenset(self._lemmas.keys()) | frozenset(self._lemmas.values())
        self._typos = _typo_index(english["signs"], self._spelling)
        self._en = _Language(self._en_nlp, english, "LEMMA", self._lemma_of, self._words_en)
        spanish = spec["spanish"]
        self._es_nlp = spacy.blank("es")
        self._es = _Language(self._es_nlp, spanish, "NORM", _fold_accents, str.split)
        self._es_temperature_cues = frozenset(spanish["temperature_cues"])

    # English words in patterns go through the same spelling fixes and lemmas as messages.
    def _lemma_of(self, word: str) -> str:
        word = self._spelling.get(word, word)
        return self._lemmas.get(word, word)

    def knows(self, word: str) -> bool:
        """Is this lower-case word in spaCy's English lookup tables?"""
        # The table is keyed by hashes: its inflected forms ("having", "went") are found
        # by looking them up, its lemmas by the set of values.
        return word in self._known or self._lemmas.get(word) is not None

    def _typo_fixed(self, word: str) -> str:
        """ "confsued" -> "confused": one letter off a sign's word, and no English word."""
        if not word.isalpha() or word in self._spelling:
            return word
        if self._lemmas.get(word) is not None or word in self._known:
            return word
        # "havin", "bleedin": phones drop the final g of "-ing".
        if word.endswith("in") and (
            self._lemmas.get(word + "g") is not None or word + "g" in self._known
        ):
            return word + "g"
        if len(word) < _TYPO_MIN_LENGTH:
            return word
        candidates = {w for variant in one_deletion(word) for w in self._typos.get(variant, ())}
        return candidates.pop() if len(candidates) == 1 else word

    def _words_en(self, phrase: str) -> list[str]:
        return [w for w in clean(phrase).split() if w]

    def _english_doc(self, text: str) -> Doc:
        doc = self._en_nlp.make_doc(text)
        for token in doc:
            token.lemma_ = self._lemma_of(self._typo_fixed(token.lower_))
        return doc

    def _spanish_doc(self, text: str) -> Doc:
        doc = self._es_nlp.make_doc(text)
        for token in doc:
            token.norm_ = _fold_accents(token.lower_)
        return doc

    # --- the decision ------------------------------------------------------------------

    def assess(self, text: str) -> Assessment:
        cleaned = clean(text)
        if not cleaned.strip():
            return Assessment(Verdict.NONE)
        english_doc = self._english_doc(cleaned)
        english = self._judge(english_doc, self._en, self._temperatures_en)
        spanish = self._judge(self._spanish_doc(cleaned), self._es, self._temperatures_es)
        # The reply's language follows the stronger reading: a Spanish emergency gets the
        # Spanish answer even when an English word ("fever") is in it too.
        # A message with Spanish warning signs is read as Spanish: its context words
        # ("de bebé", "mi sobrino") decide, not the English reading of "convulsiones".
        # An English message whose word happens to be Spanish too ("convulsion") stays English.
        # ("my phone keeps changing infusion to confusion": English words that are not a
        # sign stay English, though "confusion" is a Spanish sign too.)
        english_words = english.signs or bool(self._en.signs(english_doc))
        if spanish.signs and (not english_words or _looks_spanish(cleaned)):
            return spanish
        return english

    def _judge(self, doc: Doc, language: _Language, temperatures: Any) -> Assessment:
        signs = [
            _Sign(doc.vocab.strings[m_id], start, end) for m_id, start, end in language.signs(doc)
        ]
        signs += temperatures(doc)
        lang = "es" if language is self._es else "en"
        if not signs:
            return Assessment(Verdict.NONE, language=lang)
        context = [
            (doc.vocab.strings[m_id], start, end) for m_id, start, end in language.context(doc)
        ]
        not_signs = [(s, e) for kind, s, e in context if kind == "not_a_sign"]
        signs = [s for s in signs if not any(_overlaps(ns, ne, s) for ns, ne in not_signs)]
        if not signs:
            return Assessment(Verdict.NONE, language=lang)
        sentences = _spans(doc, _SENTENCE_END, frozenset())
        clauses = _spans(doc, _CLAUSE_END, _CLAUSE_WORDS)
        # A long message of repeated signs is read on its first signs only: linear cost.
        kept = _dedupe(signs)[:MAX_SIGNS_READ]
        readings = [
            self._read(doc, sign, context, sentences[sign.start], clauses[sign.start], kept)
            for sign in kept
        ]
        readings = _follow_the_owner(readings, context, sentences, clauses)
        names = tuple(dict.fromkeys(s.name for s, _ in readings))
        kinds = tuple(dict.fromkeys(r.value for _, r in readings))
        if any(r is Reading.NOW for _, r in readings):
            verdict = Verdict.EMERGENCY
        elif any(r in (Reading.UNCLEAR, Reading.HYPOTHETICAL) for _, r in readings):
            verdict = Verdict.MENTION
        else:
            verdict = Verdict.NONE
        # A sign below the fever line ("temp 37.8") is worth the safety line, never more.
        if verdict is Verdict.EMERGENCY and all(
            s.name == "temperature_below_fever" for s, r in readings if r is Reading.NOW
        ):
            verdict = Verdict.MENTION
        return Assessment(verdict, names, lang, kinds)

    def _read(
        self,
        doc: Doc,
        sign: _Sign,
        context: list[tuple[str, int, int]],
        sentence: Span,
        clause: Span,
        all_signs: Sequence[_Sign] = (),
    ) -> tuple[_Sign, Reading]:
        def found(kind: str, span: Span, before: int | None = None) -> list[tuple[int, int]]:
            hits = [
                (s, e)
                for k, s, e in context
                if k == kind and span.start <= s and e <= span.end and not _overlaps(s, e, sign)
            ]
            # "she's 3 months out now": time since the treatment, not the sign's time.
            # ("months from now": the future.)
            if kind == "now":
                hits = [
                    (s, e) for s, e in hits if not (s > 0 and doc[s - 1].lower_ in ("out", "from"))
                ]
            return [(s, e) for s, e in hits if before is None or e <= before]

        whole = doc[:]
        # "confused about the insurance": a word about understanding, not a sign; but
        # "confused about where she is" / "confused what day it is" is disorientation.
        if (
            sign.name == "confusion"
            and sign.end < len(doc)
            and doc[sign.end].lower_ in _NOT_CONFUSION_AFTER
            and not _is_disorientation(doc, sign.end)
        ):
            return sign, Reading.NEGATED
        if sign.name == NORMAL_TEMPERATURE:
            return sign, Reading.NEGATED
        # "Would a 38.2 count as a fever?", "would 100.5 count?": a reading supposed.
        if (
            doc[sign.start].like_num
            and "would" in [t.lower_ for t in doc[max(sign.start - 2, 0) : sign.start]]
            and any(t.lower_ in ("count", "counts") for t in doc[sign.end : sign.end + 2])
            and not found("now", whole)
        ):
            return sign, Reading.HYPOTHETICAL
        # "99.8. That's still under 100.4 right?": the line, beside the reading.
        if (
            doc[sign.start].like_num
            and sign.start > 0
            and doc[sign.start - 1].lower_ in ("under", "below")
            and any(o.start != sign.start and doc[o.start].like_num for o in all_signs)
        ):
            return sign, Reading.GENERAL
        # "37.5 C right now, is that a fever?": the word asks whether the reading counts;
        # the reading decides.
        if (
            sign.name == "fever"
            and not doc[sign.start].like_num
            and _ASKS_WHETHER_FEVER.search(" ".join(t.lower_ for t in doc[: sign.start]) + " ")
            and any(
                o.start != sign.start
                and doc[o.start].like_num
                # ("37.8 this morning but now she feels hotter, is that a fever?": no.)
                and not any(t.lower_ == "but" for t in doc[o.end : sign.start])
                for o in all_signs
            )
        ):
            return sign, Reading.GENERAL
        # "no fever", "hasn't had any chills or shaking", "fever free".
        if any(
            sign.start - e <= 5 and not _new_subject_between(doc, e, sign.start)
            for _, e in found("negation", clause, sign.start)
        ):
            return sign, Reading.NEGATED
        # "we haven't seen any fever, chills or anything": one negation over a list.
        for _, e in found("negation", sentence, sign.start):
            negated = [o for o in all_signs if 0 <= o.start - e <= 3 and o.end <= sign.start]
            if negated and _only_signs_between(doc, negated[0].start, sign.start, all_signs):
                return sign, Reading.NEGATED
        if any(s >= sign.end and s - sign.end <= 2 for s, _ in found("negation_after", whole)):
            return sign, Reading.NEGATED
        # ("is 39.5 the cutoff? that's what he has now": a "now" keeps it the patient's.)
        says_now = bool(found("now", whole))
        # ("confusion and trouble speaking listed": the whole list is named.)
        # (Not "He has trouble speaking like in the booklet": he has it.)
        named_before = [
            s for s, _ in found("patient", clause, sign.start) if doc[s].lower_ not in _WRITER
        ]
        if (
            not says_now
            and not named_before
            and any(
                s >= sign.end
                and (s - sign.end <= 1 or _only_signs_between(doc, sign.end, s, all_signs))
                for s, _ in found("general_after", clause)
            )
        ):
            return sign, Reading.GENERAL
        # "the form mentions confusion and trouble speaking": the whole list is named.
        if not says_now and any(
            sign.start - e <= 1 or _only_signs_between(doc, e, sign.start, all_signs)
            for _, e in found("general_before", clause, sign.start)
        ):
            return sign, Reading.GENERAL
        # "she can't make it stop": not over; "the seizure stopped but he's not waking up":
        # the "stopped" ends the seizure, not the sign after the "but".
        # (A normal reading beside "went back down to 36.9" is the sign being over.)
        others = [
            o for o in all_signs if o.name not in (sign.name, NORMAL_TEMPERATURE) and o != sign
        ]
        resolved = (
            [
                (s, e)
                for s, e in found("resolved", whole)
                if not any(t.lower_ in _NOT_WORDS for t in doc[max(s - 3, 0) : s])
                # "been stable since discharge and has 39.5 tonight": what comes after the
                # "and" is new.
                and not (
                    e <= sign.start and any(t.lower_ in _NEW_TURN for t in doc[e : sign.start])
                )
                # "That stopped after a minute. He's still out of it": a sentence before the
                # sign's own ended something else.
                and not e <= sentence.start
                # "39.8, ya se le pasaron los escalofríos": over is the other sign beside it;
                # "he is confused and his headache went away": another thing named is over.
                and not _next_to_another_sign(s, e, others)
                and not _names_another_thing(doc, s, all_signs)
            ]
            # "He had 38.6 on day 1 and no fever since": said after the sign (not "No fever
            # since Friday, she just spiked to 38.9").
            + [
                (s, e)
                for s, e in found("over_since", sentence)
                # (only a sign said in the past: "He had 38.6 ... and no fever since";
                # not "She's 38.9 and shivering - she'd had no fever since Tuesday")
                if s >= sign.end
                and sign.name in ("fever", "chills", "fiebre")
                and any(t.lower_ in _PAST_VERBS for t in clause)
                and not any(t.lower_ in _PRESENT_BE for t in clause)
            ]
            + [
                (s, e)
                for s, e in found("resolved_after", whole)
                if s >= sign.end and not any(t.lower_ in _NOT_WORDS for t in doc[max(s - 3, 0) : s])
            ]
            # "The fevers stopped on Sunday": said right after the sign; not "the chills
            # stopped" after another sign, not "stopped answering" (another thing stopped).
            + [
                (s, e)
                for s, e in found("over_after", clause)
                if 0 <= s - sign.end <= 2
                and not any(t.lower_ in _NOT_WORDS for t in doc[max(s - 3, 0) : s])
                and not _next_to_another_sign(s, e, others)
                and not (e < len(doc) and doc[e].lower_.endswith("ing"))
            ]
        )
        # "it stopped for a second then started again": not over.
        restarted = [
            e
            for s, e in found("restarted", sentence)
            if not any(t.lower_ in _NOT_WORDS for t in doc[max(s - 3, 0) : s])
        ]
        resolved = [(s, e) for s, e in resolved if not any(r > e for r in restarted)]
        # "he just had a seizure that stopped": a seizure or a faint minutes ago still
        # needs the call.
        just = any(t.lower_ == "just" for t in clause)
        if resolved and sign.name in _URGENT_EVEN_IF_OVER and just:
            resolved = []
        # "it's gone now", "normal for 10 days now": that "now" belongs to the sign being
        # over; "her fever went away and she's home now": a new subject's clause.
        now = any(
            not any(rs - 5 <= s <= re + 1 or _only_duration(doc, re, s) for rs, re in resolved)
            and not (resolved and _new_subject_between(doc, min(e, sign.end), max(s, sign.start)))
            for s, e in found("now", sentence)
        )
        onsets = found("onset_question", whole)

        # (Only a negation of a sign: "no fever since", not "no come desde ayer".)
        negations = [
            s for s, _ in found("negation", whole) if any(0 < o.start - s <= 2 for o in all_signs)
        ]

        def recent_in(span: Span) -> bool:
            return any(
                not any(os <= s < oe for os, oe in onsets)
                # "..., but she's been off oxygen since": the time of a later "but" clause
                # that says the sign is gone (not "but it came back tonight").
                and not _gone_in_but_clause(doc, sign.end, s)
                # "home with no fever since Saturday": the time of no sign.
                and not any(0 < s - n <= 3 for n in negations)
                for s, _ in found("recent", span)
            )

        # "He's still really out of it": said just before the sign.
        still = any(0 <= sign.start - e <= 1 for _, e in found("still_before", clause))

        # "¿Es normal que tenga 38.2? Está así desde hace una hora": the sentence after a
        # question about a sign says how long it has gone on.
        after = sentence.end + 1
        next_sentence = doc[after : _sentence_end(doc, after)] if after < len(doc) else None
        recent = (
            now
            or still
            or recent_in(sentence)
            or bool(next_sentence and _is_question(doc, clause) and recent_in(next_sentence))
        )
        if resolved and not now:
            return sign, Reading.PAST
        # ("He doesn't know what day it is and asks for his dog who died years ago": the
        # years belong to the dog, in a relative clause after the sign.)
        # ("She's seizing like she did back in January": a comparison with the past.)
        distant = [
            (s, e)
            for s, e in found("distant_past", sentence)
            if not (s >= sign.end and any(t.lower_ in _RELATIVE for t in doc[sign.start : s]))
            # (only with the sign said in the present: "she's seizing like ...")
            and not (
                s >= sign.end
                and any(t.lower_ in _COMPARING for t in doc[sign.end : s])
                and any(t.lower_ in _PRESENT_BE for t in doc[max(sign.start - 2, 0) : sign.start])
            )
        ]
        if distant and not recent:
            return sign, Reading.PAST
        # "He lost his balance ..., but that was six weeks ago and he's running around now":
        # the sign is dated; the later "now" is about something else.
        if any(s >= sign.end and doc[s].lower_ == "that" for s, _ in distant) and not (
            recent_in(clause) or still
        ):
            return sign, Reading.PAST
        # "Her fever in week one was treated with tocilizumab. That was in January.": the
        # next sentence dates this one's sign.
        if (
            next_sentence is not None
            and [t.lower_ for t in next_sentence[:2]] == ["that", "was"]
            and any(
                any(t.lower_ in _DATE_WORDS for t in doc[ds:de])
                for ds, de in found("distant_past", next_sentence)
            )
            # ("That was in the hospital last time": a comparison, not this sign's date.)
            and not any(
                t.lower_ in _COMPARING_TIME
                or (t.lower_ == "last" and t.i + 1 < len(doc) and doc[t.i + 1].lower_ == "time")
                for t in next_sentence
            )
            and not recent
            # ("That was 2 months ago and now it's back": it is happening again.)
            and not (
                found("now", next_sentence) and any(t.lower_ in _BACK_AGAIN for t in next_sentence)
            )
            and any(t.lower_ in _PAST_VERBS for t in sentence)
        ):
            return sign, Reading.PAST
        # ("Grandma here, I'm the one who's dizzy": only as the message's opening words,
        # not "my mom here says I should ask".)
        writer_is_not_patient = any(
            doc[e - 1].lower_ != "here"
            or all(t.is_punct or t.lower_ in _GREETINGS for t in doc[:s])
            for s, e in found("writer_not_patient", whole)
        )

        def patients(span: Span, before: int | None = None) -> list[tuple[int, int]]:
            hits = found("patient", span, before)
            if writer_is_not_patient:  # "I'm the dad and I have chills": not the patient
                hits = [
                    (s, e)
                    for s, e in hits
                    if doc[s].lower_ not in ("i", "myself")
                    # ("My knee hurts terribly ..., I'm the dad": the writer's own knee.)
                    and not (
                        doc[s].lower_ == "my" and not any(t.lower_ in _OWN_CHILD for t in doc[s:e])
                    )
                ]
            return hits

        # "My knee hurts terribly from the cot, I'm the dad": the writer's own body.
        if (
            writer_is_not_patient
            and any(t.lower_ == "my" for t in doc[clause.start : sign.start])
            and not patients(clause)
        ):
            return sign, Reading.SOMEONE_ELSE
        # "my husband is so dizzy": the clause after an intensifying "so" has its subject
        # in the clause before (a "so" otherwise starts a clause of its own).
        subject = clause
        if (
            clause.start >= 2
            and doc[clause.start - 1].lower_ == "so"
            and doc[clause.start - 2].lower_ in _LINKING_VERBS
        ):
            subject = doc[_clause_start(doc, clause.start - 2) : clause.end]
        # "Our older daughter, not the patient, is wheezing": a clause that starts with its
        # verb has the subject the sentence opened with.
        elif (
            doc[sentence.start].lower_ in ("my", "our")
            and _clause_end(doc, sentence.start) - sentence.start <= 4
            and _clause_end(doc, sentence.start) < clause.start
            and doc[clause.start].lower_ in _VERB_STARTS
            and not found("patient", clause, sign.start)
            and not found("someone_else", clause, sign.start)
        ):
            subject = doc[sentence.start : clause.end]
        # "he tried to text his friend and couldn't spell his name": the friend is only
        # the object of what our patient did, not the one with the sign.
        patients_before = patients(subject, sign.start)
        someone_else = [
            (s, e)
            for s, e in found("someone_else", subject, sign.start)
            if not (
                any(t.lower_ in _OBJECT_PREPOSITIONS for t in doc[max(s - 2, 0) : s])
                and any(ps < s for ps, _ in patients_before)
            )
            # "the nanny texted 101.6", "Wife says our boy is confused": the one who tells
            # us is not the one with the sign.
            and not (
                any(t.lower_ in _CARERS for t in doc[s:e])
                and any(t.lower_ in _TELLS for t in doc[e : e + 2] if t.i < sign.start)
            )
            # "she just told me her vision is blurry": our patient is the one telling.
            and not (
                doc[s].lower_ in ("tell", "told", "say", "said")
                and any(s - 3 <= ps < s for ps, _ in patients_before)
            )
        ]
        # "I'm his mum and I can't wake him": the one with the sign is the one acted on.
        # (Not "her son didn't recognize her": the one not recognised is not the patient.)
        acts_on_patient = any(
            t.lower_ in _PATIENT_OBJECTS for t in doc[max(sign.start, sign.end - 1) : sign.end + 1]
        ) and not any(t.lower_.startswith(("recogni", "know")) for t in doc[sign.start : sign.end])
        if someone_else and not acts_on_patient:
            last_other = max(e for _, e in someone_else)
            # "my friend's daughter", "another mom ... her son": still someone else's child.
            possessive = last_other < len(doc) and doc[last_other].lower_ in ("'s", "s")
            # "My niece has a fever. I'm minding her, she had the CAR T cells last week": a
            # relative's child in the writer's care, treated by a later "she had the cells",
            # when no child of the writer's own is named.
            treated = any(s >= last_other for s, _ in found("treatment", subject, sign.start)) or (
                not possessive
                and doc[max(someone_else)[0]].lower_ in _CARED_FOR_RELATIVES
                and not any(doc[s].lower_ in _OWN_CHILD for s, _ in found("patient", whole))
                and any(
                    t.lower_ in ("he", "she") and t.i > sign.end
                    for ts, _ in found("treatment", whole)
                    for t in doc[max(ts - 3, 0) : ts]
                )
            )
            first_other = max(someone_else)[0]
            # "my girlfriend - she has a fever": the pronoun is that person; but "it's his
            # mom - he has a fever": the writer names themselves, the pronoun is our patient.
            own_person = first_other > 0 and doc[first_other - 1].lower_ in ("my", "our")
            patient_after = [
                s
                for s, e in patients(subject, sign.start)
                if s >= last_other
                and not (possessive and s <= last_other + 1)
                and not (s > 0 and doc[s - 1].lower_ in _NOT_OURS_BEFORE and doc.lang_ == "en")
                # "a girl in my daughter's class": the daughter only names the class.
                and not (e < len(doc) and doc[e].lower_ in ("'s", "s"))
                # "my girlfriend - she has a fever": the pronoun is that person.
                and not (
                    own_person
                    and doc[s].lower_ in _PRONOUNS
                    and all(t.is_punct for t in doc[last_other:s])
                    and s - last_other <= 2
                )
            ]
            if possessive or not (treated or patient_after):
                return sign, Reading.SOMEONE_ELSE
        # "The baby has chills. Can she be near her brother who had CAR T?": the treated
        # child is the brother, so the sign is a sibling's.
        # (A pronoun may be the brother himself: "my brother had CAR T, he's dizzy".)
        # ("My older son, he's 12, has a temp": a clause without a subject of its own
        # has the sentence's.)
        own_subject = clause if found("patient", clause, sign.start) else sentence
        named_subjects = [
            (s, e)
            for s, e in found("patient", own_subject, sign.start)
            if doc[s].lower_ not in _PRONOUNS
        ]
        if (
            named_subjects
            and not found("treatment", clause)
            and any(
                doc[s].lower_ in _SIBLINGS
                and any(
                    s < ts <= s + 8 and not any(t.text in _SENTENCE_END for t in doc[s:ts])
                    for ts, _ in found("treatment", whole)
                )
                for s, _ in found("someone_else", whole)
            )
        ):
            return sign, Reading.SOMEONE_ELSE
        # "I'm here to visit my son and I have a fever myself": the writer's own sign.
        # ("I'm the patient's dad and I've got a bug, vomiting since this morning": the
        # sign's clause has no subject, the sentence's last one is the writer.)
        subjects = found("patient", clause, sign.start) or found(
            "patient", doc[sentence.start : clause.end], sign.start
        )
        # ("I retook it and it's 38.4": the reading is the child's, "it" comes between.)
        if (
            writer_is_not_patient
            and subjects
            and doc[max(subjects)[0]].lower_ in ("i", "myself", "my")
            and not any(t.lower_ in _OTHER_SUBJECTS for t in doc[max(subjects)[1] : sign.start])
            # "I can't really wake her": the writer does something to the patient.
            and not acts_on_patient
        ):
            return sign, Reading.SOMEONE_ELSE
        # "is it just tiredness if she can barely stay awake today?": a present sign
        # wrapped in a question, not a condition.
        # ("Is it CRS if she has a fever of 38.7?": a reading is no condition either.)
        reading_here = any(
            doc[o.start].like_num and clause.start <= o.start < clause.end for o in all_signs
        )
        wrapped_if = (recent or reading_here) and found("wrapped_if", clause, sign.start)
        # "Hypothetically, how long would a nosebleed...": said once, for the sentence.
        # ("Who do I call, my son is having trouble breathing?": the sign's own clause says
        # it is happening; the opening question does not make it a condition.)
        happening = bool(patients(clause, sign.start)) and any(
            t.lower_ in _PRESENT_BE for t in doc[clause.start : sign.start]
        )
        hypothetical = found("hypothetical", clause, sign.start) or [
            (s, e)
            for s, e in found("hypothetical", sentence, sign.start)
            if s == sentence.start and not happening
        ]
        if hypothetical and not now and not wrapped_if:
            return sign, Reading.HYPOTHETICAL
        if (
            not recent
            and not found("now", whole)
            and any(e == sign.start for _, e in found("risk_question", clause))
            and (
                any(s >= sign.end for s, _ in found("treatment", clause))
                or any(t.lower_ in ("treatment", "therapy") for t in doc[sign.end : clause.end])
            )
        ):
            return sign, Reading.GENERAL
        if recent:
            return sign, Reading.NOW
        # "a nosebleed two days ago", with nothing saying it goes on: not clearly now, not
        # clearly over. ("Got his cells 5 days ago" dates the treatment, not the sign.)
        if found("recent_past", clause) and not found("treatment", clause):
            return sign, Reading.UNCLEAR
        # "How do they treat the confusion if it happens?": care in general, unless the
        # patient is named elsewhere ("How do you stop a seizure? he's having one").
        if found("general_treat", clause, sign.start) and not [
            p for p in found("patient", whole) if not (sentence.start <= p[0] < sentence.end)
        ]:
            return sign, Reading.GENERAL
        present_why = found("present_why", sentence)
        if any(
            not any(ps <= s < pe for ps, pe in present_why)
            # ("he is seizing, what does it mean?": asked after a sign said happening.)
            and not (happening and s >= sign.end)
            for s, _ in found("general_strong", sentence)
        ):
            return sign, Reading.GENERAL
        # "his words are all jumbled": "his" names the patient though "words" is part of
        # the sign.
        owner = [
            (s, e)
            for k, s, e in context
            if k == "patient" and clause.start <= s < sign.start < e <= clause.end
        ]
        if patients(clause, sign.start) or patients(clause) or owner:
            return sign, Reading.NOW
        # "is 100.6 normal four days after kymriah? that's what she has now."
        if _is_question(doc, clause) and found("now", whole):
            return sign, Reading.NOW
        # A reading ("its 100.9 but he's playing like normal") is not made general by
        # another clause's words.
        reading = doc[sign.start].like_num
        if found("general", clause) or (found("general", sentence) and not reading):
            return sign, Reading.GENERAL
        # "Confusion and seizures after CAR T": a headline naming the therapy's signs, with
        # nobody's sign and no time in it: not clearly now (safety line, then the answer).
        # ("Confusion, Seizures And Speech Problems After CAR T": the list runs over commas.)
        afters = [
            t.i
            for s, _ in found("treatment", sentence)
            for t in doc[max(s - 2, sign.end) : s]
            if t.lower_ == "after"
        ]
        # Only signs and "and"/"or" before the "after": a title, not a sentence.
        headline = bool(afters) and _only_signs_between(doc, sentence.start, afters[0], all_signs)
        # "car t seizures", "kymriah confusion and seizures": the therapy's name, then only
        # its signs, like a search.
        name_end = max((e for s, e in found("treatment", whole) if s == 0), default=0)
        while name_end and name_end < len(doc) and doc[name_end].lower_ in _THERAPY_NAME_WORDS:
            name_end += 1
        # (One sign in the singular, "kymriah seizure", may be typed in panic: not a title.)
        headline = headline or bool(
            name_end
            and sign.start >= name_end
            and _only_signs_between(doc, name_end, len(doc), all_signs)
            and (len(all_signs) > 1 or doc[sign.end - 1].lower_.endswith("s"))
        )
        if (
            headline
            and not patients(whole)
            and not found("urgent", whole)
            and "!" not in doc.text
            and not doc[sign.start].like_num
        ):
            return sign, Reading.UNCLEAR
        # Only signs, asked in alarm ("vomiting blood??", "seizure?!"): safety first.
        if _only_signs_between(doc, 0, len(doc), all_signs) and (
            "??" in doc.text or "!" in doc.text
        ):
            return sign, Reading.NOW
        # "Can trouble speaking come on suddenly after CAR T, or slowly?": how signs start.
        if found("onset_question", clause):
            return sign, Reading.GENERAL
        # A bare sign ("fever!!", "seizure", "39.4 and shaking"): safety first.
        if not _is_question(doc, clause):
            return sign, Reading.NOW
        if sign.name in _WEAK_SIGNS:
            return sign, Reading.UNCLEAR
        # "is 38.1 a fever? that's what she's at": the patient is named elsewhere, or the
        # time is ("is this bleeding serious? it hasn't stopped for half an hour").
        if patients(whole) or found("now", whole) or recent_in(whole):
            return sign, Reading.NOW
        return sign, Reading.UNCLEAR

    # --- temperatures written as numbers -----------------------------------------------

    def _temperatures_en(self, doc: Doc) -> list[_Sign]:
        cues = frozenset(self._temperature["cue_before"])
        return self._temperatures(doc, cues, lambda t: t.lemma_)

    def _temperatures_es(self, doc: Doc) -> list[_Sign]:
        # Spanish readings need a Spanish word beside them ("fiebre de 39", "tiene 38.5"),
        # so an English "running 100.5" is not read as Spanish.
        return self._temperatures(
            doc,
            self._es_temperature_cues,
            lambda t: t.norm_,
            decimal_is_enough=False,
            cues_after=_ES_CUES_AFTER,
        )

    def _temperatures(
        self,
        doc: Doc,
        cues: frozenset[str],
        word: Any,
        decimal_is_enough: bool = True,
        cues_after: frozenset[str] | None = None,
    ) -> list[_Sign]:
        spec = self._temperature
        cues_after = cues_after or frozenset(spec["cue_after"])
        not_units = frozenset(spec["not_units"])
        c_low, c_high = spec["celsius_range"]
        f_low, f_high = spec["fahrenheit_range"]
        found: list[_Sign] = []
        for token in doc:
            if not _NUMBER.match(token.text):
                continue
            after = doc[token.i + 1].lower_ if token.i + 1 < len(doc) else ""
            after = after.rstrip(".")
            if after in not_units or after.rstrip("s") in not_units:
                continue
            if (
                token.i > 0
                and doc[token.i - 1].text in ("-", "#", "$", "/")
                and not (doc[token.i - 1].text == "-" and doc[token.i - 1].whitespace_)
            ):
                continue  # phone numbers, prices, times, fractions (not a spaced dash)
            unit = after if after in ("c", "f", "°", "°c", "°f", "degrees", "deg") else ""
            before = {word(doc[i]) for i in range(max(0, token.i - 2), token.i)}
            following_words = [word(doc[i]) for i in range(token.i + 1, min(len(doc), token.i + 5))]
            following = set(following_words)
            # ("102 under the arm": a cue of several words follows in order.)
            after_text = f" {' '.join(following_words)} "
            cued_after = bool(following & cues_after) or any(
                " " in cue and f" {cue} " in after_text for cue in cues_after
            )
            # A reading with a decimal ("38.9", "101.5") is a temperature on its own.
            cued = bool(before & cues or cued_after or (decimal_is_enough and "." in token.text))
            # A message that is only a number ("103 !!!"): a reading.
            alone = all(t.is_punct or t.i == token.i for t in doc)
            if not unit and not cued and not alone:
                continue
            value = float(token.text)
            if unit.endswith("c") or (not unit.endswith("f") and c_low <= value <= c_high):
                fever_line, normal = spec["fever_celsius"], spec["normal_celsius"]
            elif f_low <= value <= f_high:
                fever_line, normal = spec["fever_fahrenheit"], spec["normal_fahrenheit"]
            else:
                continue
            if value <= normal:
                # A normal reading ("temp 36.9, all good") is no sign; it is kept, read as
                # negated, so the message counts as one that names a sign but not now.
                found.append(_Sign(NORMAL_TEMPERATURE, token.i, token.i + 1))
                continue
            name = "fever" if value >= fever_line else "temperature_below_fever"
            found.append(_Sign(name, token.i, token.i + 1))
        return found


_SPANISH_WORDS = frozenset(
    [
        "mi",
        "mis",
        "tiene",
        "tengo",
        "esta",
        "estoy",
        "que",
        "el",
        "la",
        "los",
        "las",
        "de",
        "del",
        "y",
        "con",
        "por",
        "para",
        "muy",
        "se",
        "le",
        "lo",
        "hijo",
        "hija",
        "nino",
        "nina",
        "ahora",
        "desde",
        "hace",
        # ("Cuando pasa la confusion, cuanto tiempo suele durar?")
        "cuando",
        "cuanto",
        "suele",
        "tiempo",
        "pasa",
        "es",
        "una",
        "pero",
        "como",
        "puede",
    ]
)


# Typos of a sign's word are fixed only in words this long: short words have too many
# neighbours ("hart" is in the spelling list instead).
_TYPO_MIN_LENGTH = 6


def one_deletion(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _typo_index(signs: dict[str, list[str]], spelling: dict[str, str]) -> dict[str, set[str]]:
    """Symmetric-delete index of the words of the English sign phrases (and the spelling
    list's targets): a word one letter off (left out, added, changed or swapped) shares a
    one-deletion variant with its sign word. Linear in the word's length to look up."""
    words = set(spelling.values())
    for phrases in signs.values():
        for phrase in phrases:
            for part in phrase.split():
                for word in part.rstrip("?").split("|"):
                    if word.isalpha() and len(word) >= _TYPO_MIN_LENGTH:
                        words.add(word)
    index: dict[str, set[str]] = {}
    for word in words:
        for variant in one_deletion(word):
            index.setdefault(variant, set()).add(word)
    return index


def looks_spanish(text: str) -> bool:
    """Spanish by the triage's own words, also for a short message ("está helado")."""
    return _looks_spanish(clean(text))


def _looks_spanish(text: str) -> bool:
    words = re.findall(r"[a-z]+", _fold_accents(text))
    return sum(w in _SPANISH_WORDS for w in words) >= 2


_ES_CUES_AFTER = frozenset({"fiebre", "temperatura", "termometro", "grados"})
# "is this an emergency?", "help?": asked, not told; the other words of the message decide.
_WEAK_SIGNS = frozenset({"general_emergency"})
_PAST_VERBS = frozenset(
    {"was", "were", "had", "did", "got", "went", "came", "spiked", "treated", "needed"}
)
_DATE_WORDS = frozenset(
    {"january", "february", "march", "april", "may", "june", "july", "august", "september"}
    | {"october", "november", "december", "spring", "summer", "fall", "autumn", "winter"}
    | {"ago", "year", "years", "month", "months"}
)
_COMPARING_TIME = frozenset({"too", "again", "like", "same", "also", "when"})
_ASKS_WHETHER_FEVER = re.compile(
    r"(\b(is|'s) (that|this|it|[0-9][0-9.]*( (°|degrees|f|c))?)|\bcounts? as|\bconsidered)"
    r" (a |an )?"
    r"(real |true |mild |slight |low grade |low - grade )?$"
)
_NOT_CONFUSION_AFTER = frozenset(
    {"about", "by", "with", "on", "over", "what", "how", "why", "which", "if", "whether", "than"}
)
# Words after "confused (about)" that ask where, who or when one is: a sign, not a topic.
_ORIENTATION_WORDS = frozenset({"where", "who", "day", "year", "time", "month"})


def _is_disorientation(doc: Doc, start: int) -> bool:
    following = [t.lower_ for t in doc[start : start + 3]]
    if following and following[0] == "about":
        following = following[1:]
    return bool(following) and (
        following[0] in ("where", "who")
        or (following[0] == "what" and len(following) > 1 and following[1] in _ORIENTATION_WORDS)
    )


_RANK = {Verdict.NONE: 0, Verdict.MENTION: 1, Verdict.EMERGENCY: 2}
_SENTENCE_END = frozenset(".!?\n")
_CLAUSE_END = frozenset(".!?\n;,:")
_CLAUSE_WORDS = frozenset({"but", "so", "because", "cause", "pero", "porque"})


# "their son", "a sick child", "another kid": someone's child, not the writer's.
_NOT_OURS_BEFORE = frozenset(
    {"her", "his", "their", "a", "an", "another", "other", "sick", "whose"}
)
_SIBLINGS = frozenset(
    {"brother", "sister", "sibling", "twin", "brothers", "sisters", "siblings"}
    | {"stepbrother", "stepsister", "half"}
    # "The baby has a fever. Our older son is the CAR T patient."
    | {"older", "younger", "oldest", "youngest", "other"}
)
# "he is so dizzy": this "so" strengthens the word after it; it does not start a clause.
_LINKING_VERBS = frozenset(
    {"is", "was", "are", "were", "am", "be", "been", "feel", "feels", "felt", "look", "looks"}
    | {"looked", "seem", "seems", "seemed", "get", "gets", "got", "getting", "really", "just"}
)
# Words that may join the signs of a headline ("Confusion and seizures after CAR T").
_HEADLINE_GLUE = frozenset({"and", "or", "&", "the", "a", "an", "/"})
_PRONOUNS = frozenset({"he", "she", "they", "i", "we", "him", "her", "them", "me", "us"})
_OTHER_SUBJECTS = frozenset({"it", "he", "she", "they", "his", "her", "their"})
_PATIENT_OBJECTS = frozenset({"her", "him", "them", "my", "our"})
_OBJECT_PREPOSITIONS = frozenset({"to", "with"})
_SUBJECTS = frozenset({"he", "she", "i", "they", "we", "it"})
_RELATIVE = frozenset({"who", "whose"})
_NOT_WORDS = frozenset({"not", "never", "n't"})
_COMPARING = frozenset({"like", "as", "than"})
_PRESENT_BE = frozenset({"'s", "is", "are", "'re", "am", "'m", "keeps", "keep"})
_AUXILIARIES = frozenset({"has", "have", "had", "is", "was", "'s", "just", "finally", "all"})
_OWNERS = frozenset({"his", "her", "my", "their", "our", "the"})
_NEW_TURN = frozenset({"but", "and", "then", "now", "tonight", "today", "again"})
_URGENT_EVEN_IF_OVER = frozenset({"seizure", "fainting"})
_WRITER = frozenset({"i", "we", "me", "us", "myself"})
_GREETINGS = frozenset({"hi", "hello", "hey", "ok", "okay", "so", "hiya"})
_THERAPY_WORDS = frozenset(
    {"infusion", "cells", "chemo", "treatment", "therapy", "kymriah", "transplant"}
)
_THERAPY_NAME_WORDS = frozenset({"t", "-", "cell", "cells", "therapy", "t-cell"})
_VERB_STARTS = frozenset(
    {"is", "was", "has", "had", "have", "just", "keeps", "kept", "got", "gets"}
)
_CARED_FOR_RELATIVES = frozenset({"niece", "nephew"})
# ("the confusion he had in the ICU is completely gone": the place is not what is over.)
_PLACES = frozenset({"icu", "picu", "hospital", "ward", "unit", "clinic", "er", "room"})
_CARERS = frozenset(
    {"nanny", "babysitter", "sitter", "grandma", "grandpa", "granny", "nana", "teacher"}
    | {"wife", "husband", "partner", "mom", "mum", "dad", "mother", "father", "aunt", "uncle"}
    | {"comadre", "compadre", "abuela", "abuelo", "tia", "tio", "esposo", "esposa", "ninera"}
)
_TELLS = frozenset(
    {"say", "says", "said", "texted", "texts", "called", "calls", "told", "tells", "wrote"}
    | {"messaged", "reports", "reported", "thinks", "dice", "dijo", "llamo", "escribio"}
)
_BACK_AGAIN = frozenset({"back", "again", "still", "started", "worse", "returned"})
_GONE_WORDS = frozenset(
    {"no", "not", "n't", "off", "free", "fine", "gone", "normal", "stable", "without", "sin"}
    | {"ya", "bien", "home", "casa"}
)
_OWN_CHILD = frozenset({"son", "daughter", "child", "kid", "boy", "girl", "baby", "toddler"})
_DURATION_WORDS = frozenset(
    {"a", "an", "few", "couple", "of", "whole", "full", "hour", "hours", "day", "days"}
    | {"week", "weeks", "month", "months", "straight"}
)


def _gone_in_but_clause(doc: Doc, sign_end: int, at: int) -> bool:
    """A "but" between the sign and `at` opens a clause that says the sign is gone."""
    buts = [t.i for t in doc[sign_end:at] if t.lower_ in ("but", "pero")]
    return bool(buts) and any(t.lower_ in _GONE_WORDS for t in doc[buts[-1] : at + 1])


def _new_subject_between(doc: Doc, start: int, end: int) -> bool:
    """ "his hands will not cooperate and he is shaky": the negation ends at "and he"."""
    return any(
        doc[i].lower_ == "and" and doc[i + 1].lower_ in _SUBJECTS for i in range(start, end - 1)
    )


def _follow_the_owner(
    readings: list[tuple[_Sign, Reading]],
    context: list[tuple[str, int, int]],
    sentences: list[Span],
    clauses: list[Span],
) -> list[tuple[_Sign, Reading]]:
    """ "The baby has a fever, 38.4.": a sign whose clause names nobody belongs to the
    person of the sign just before it in the same sentence."""
    people = [(s, e) for kind, s, e in context if kind in ("patient", "someone_else")]
    result: list[tuple[_Sign, Reading]] = []
    for sign, reading in readings:
        clause, sentence = clauses[sign.start], sentences[sign.start]
        names_nobody = not any(clause.start <= s and e <= clause.end for s, e in people)
        previous = [(p, r) for p, r in result if p.end <= sign.start and p.start >= sentence.start]
        # Only a bare reading ("38.4", "38.4 c"): a clause with words of its own ("but now
        # it's a seizure") speaks for itself.
        bare_reading = clause.doc[sign.start].like_num and len(clause) <= 3
        if reading is Reading.NOW and names_nobody and previous and bare_reading:
            last, last_reading = max(previous, key=lambda pr: pr[0].start)
            if last_reading is Reading.SOMEONE_ELSE and clauses[last.start] != clause:
                reading = Reading.SOMEONE_ELSE
        result.append((sign, reading))
    return result


def _sentence_end(doc: Doc, start: int) -> int:
    """Where the sentence starting at `start` ends (the boundaries of `_spans`)."""
    end = start
    while end < len(doc) and doc[end].text not in _SENTENCE_END and "\n" not in doc[end].text:
        end += 1
    return end


def _only_duration(doc: Doc, start: int, end: int) -> bool:
    """ "normal for 10 days now": only an amount of time between a phrase and a "now"."""
    # ("was fine for a few days now he has a fever": that "now" starts a new clause.)
    ends_clause = end + 1 >= len(doc) or doc[end + 1].is_punct
    return (
        0 < end - start <= 4
        and ends_clause
        and all(t.like_num or t.lower_ in _DURATION_WORDS for t in doc[start:end])
    )


def _dedupe(signs: Sequence[_Sign]) -> list[_Sign]:
    """Keep one sign per stretch of text: the longest phrase wins."""
    kept: list[_Sign] = []
    for sign in sorted(signs, key=lambda s: (s.start, -(s.end - s.start))):
        if kept and sign.start < kept[-1].end:
            continue
        kept.append(sign)
    return kept


def _overlaps(start: int, end: int, sign: _Sign) -> bool:
    return start < sign.end and sign.start < end


def _spans(doc: Doc, ends: frozenset[str], words: frozenset[str]) -> list[Span]:
    """For each token, the span (sentence or clause) it stands in: one pass, linear."""
    by_token: list[Span] = []
    start = 0
    for i, token in enumerate(doc):
        if token.text in ends or token.lower_ in words or "\n" in token.text:
            span = doc[start:i]
            by_token.extend([span] * (i - start))
            by_token.append(doc[i : i + 1])
            start = i + 1
    by_token.extend([doc[start:]] * (len(doc) - start))
    return by_token


def _clause_start(doc: Doc, index: int) -> int:
    """Where the clause holding token `index` begins (the boundaries of `_spans`)."""
    start = index
    while start > 0:
        before = doc[start - 1]
        if before.text in _CLAUSE_END or before.lower_ in _CLAUSE_WORDS or "\n" in before.text:
            break
        start -= 1
    return start


def _clause_end(doc: Doc, index: int) -> int:
    """Where the clause holding token `index` ends (the boundaries of `_spans`)."""
    end = index
    while end < len(doc):
        token = doc[end]
        if token.text in _CLAUSE_END or token.lower_ in _CLAUSE_WORDS or "\n" in token.text:
            break
        end += 1
    return end


def _names_another_thing(doc: Doc, start: int, signs: Sequence[_Sign]) -> bool:
    """ "his headache went away", "his appetite has gone away": what is over is named just
    before the phrase, and it is no sign (not "the tremor went away", not "..., it passed")."""
    i = start - 1
    while i >= 0 and doc[i].lower_ in _AUXILIARIES:
        i -= 1
    for width in (1, 2):
        owner = i - width
        if owner < 0 or doc[owner].lower_ not in _OWNERS:
            continue
        named = doc[owner + 1 : i + 1]
        # ("the confusion she had right after the infusion cleared up": not the infusion.)
        if any(
            not t.is_alpha or t.lower_ in _HEADLINE_GLUE | _CLAUSE_WORDS | _THERAPY_WORDS
            for t in named
        ) or all(t.lower_ in _PLACES for t in named):
            return False
        return not any(_overlaps(named.start, named.end, other) for other in signs)
    return False


def _next_to_another_sign(start: int, end: int, others: Sequence[_Sign]) -> bool:
    """ "the chills stopped", "ya se le pasaron los escalofríos": the phrase is that sign's."""
    return any(0 <= o.start - end <= 2 or 0 <= start - o.end <= 1 for o in others)


def _only_signs_between(doc: Doc, start: int, end: int, signs: Sequence[_Sign]) -> bool:
    """Only signs, "and"/"or" and commas from start to end: a list of signs."""
    return all(
        (t.is_punct and t.text != "!")
        or t.lower_ in _HEADLINE_GLUE
        or any(sign.start <= t.i < sign.end for sign in signs)
        for t in doc[start:end]
    )


def _is_question(doc: Doc, clause: Span) -> bool:
    """Does the sign's own clause ask something ("fever after car t?", "¿fiebre?")."""
    after = doc[clause.end].text if clause.end < len(doc) else ""
    before = doc[clause.start - 1].text if clause.start > 0 else ""
    return after == "?" or before == "¿" or clause.text.startswith("¿")


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    return Triage()


def assess(text: str) -> Assessment:
    """The triage of one message with the project's words."""
    return default_triage().assess(text)
