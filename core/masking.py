"""Masks personal data in what families typed: names, US phone numbers, email addresses.

Used before a message reaches the review queue or the training data export
(console/review.py, console/feedback_store.py), so staff reviewing what the assistant
missed never read a family's contact details, and the training data never holds them.

Names have no shape a pattern can see, so they are found by the words families put
before them ("my name is", "my son", "Dr.", a signature after "thanks,"). It errs on the
side of masking: a capitalised word after such a cue is taken for a name.
"""

from __future__ import annotations

import re

NAME_MASK = "[NAME]"
PHONE_MASK = "[PHONE]"
EMAIL_MASK = "[EMAIL]"

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)

# US numbers as families type them: 617-555-0123, (617) 555-0123, 617.555.0123,
# 617 555 0123, 6175550123, +1 617 555 0123, 1-800-555-0199, with "ext. 12" kept apart.
PHONE = re.compile(
    r"(?<![\w+])"
    r"(?:\+?1[\s.-]?)?"
    r"(?:\(\s*\d{3}\s*\)|\d{3})[\s.-]?"
    r"\d{3}[\s.-]?\d{4}"
    r"(?!\w)"
)

# One name: a capitalised word, maybe hyphenated or with an apostrophe (O'Brien, Mary-Kate).
_NAME = r"[A-Z][a-zA-Z'’-]+"
# Up to three parts: "Sam", "Sam Rivera", "Mary Ann O'Neil".
_FULL_NAME = rf"{_NAME}(?:\s+{_NAME}){{0,2}}"
# Any-case name after an explicit "my name is": families type in lower case too.
_ANY_NAME = r"[A-Za-z][a-zA-Z'’-]+(?:\s+[A-Za-z][a-zA-Z'’-]+){0,2}"

_RELATIVES = (
    r"son|daughter|child|kid|boy|girl|baby|toddler|teen|husband|wife|partner|mom|mother|"
    r"dad|father|brother|sister|grandson|granddaughter|nephew|niece|stepson|stepdaughter|"
    r"patient|doctor|oncologist|nurse"
)
# Words that can follow a cue but are not names ("I'm Worried" typed in title case).
_NOT_NAMES_TEXT = """
    a an the and or but so if is was has had have will would can could should may might
    not no yes just also very really still too here there this that it its he she they we
    you i me my his her their our your who what when where why how am are be been being
    do does did worried scared sorry afraid confused unsure sure wondering looking trying
    calling writing asking going hoping interested new glad happy okay ok fine good well
    sick ill tired back home mom dad mother father parent guardian
"""
NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
NOT_NAMES_TITLE = frozenset(w.capitalize() for w in NOT_NAMES) | {
    "Car", "Kymriah", "Boston", "Children", "Children's", "Dana-Farber",
    "English", "Spanish", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday", "Sunday", "January", "February", "March", "April", "June", "July",
    "August", "September", "October", "November", "December", "Medicaid", "Medicare",
    "ALL", "B-ALL",
}  # fmt: skip

NAME_CUES = [
    # "my name is Sam", "this is Maria Lopez", "I'm Sam", "call me Sam", "named Ava"
    re.compile(rf"(?i:\bmy\s+name\s+is|\bname'?s|\bname\s*:)\s+(?P<name>{_ANY_NAME})"),
    re.compile(
        rf"(?i:\b(?:his|her|their|my\s+(?:son|daughter|child)'?s?)\s+name\s+is)"
        rf"\s+(?P<name>{_ANY_NAME})"
    ),
    re.compile(rf"(?i:\bthis\s+is|\bi\s+am|\bi'?m|\bi’m|\bcall\s+me)\s+(?P<name>{_FULL_NAME})"),
    # "this is jennifer, ..." in lower case: only a single word closed by punctuation.
    re.compile(r"(?i:\bthis\s+is|\bi\s+am|\bi'?m|\bi’m)\s+(?P<name>[a-z][a-z'’-]+)(?=\s*[,.!;])"),
    re.compile(rf"(?i:\bnamed|\bcalled)\s+(?P<name>{_FULL_NAME})"),
    # "my son Liam", "our daughter Sofia Garcia", "my 7 year old Ava"
    re.compile(
        rf"(?i:\b(?:my|our|her|his)\s+(?:(?:\d+[\s-]*(?:year|yr|month)s?[\s-]*old)"
        rf"(?:\s+(?:{_RELATIVES}))?|{_RELATIVES}))"
        rf",?\s+(?P<name>{_FULL_NAME})"
    ),
    re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Nurse|Doctor)\.?\s+(?P<name>{_FULL_NAME})"),
    # A signature: "Thanks, Maria" / "- Sam Rivera" at the end.
    re.compile(
        rf"(?i:\b(?:thanks|thank\s+you|regards|best|sincerely|cheers))[,!.]?\s+"
        rf"(?:-\s*)?(?P<name>{_FULL_NAME})\s*[.!]?\s*$"
    ),
    re.compile(rf"(?:^|\s)[-–—]\s*(?P<name>{_FULL_NAME})\s*$"),
]


def _trim_name(name: str) -> str:
    """The name's leading words that are names: "Sam Is" -> "Sam", "Worried" -> ""."""
    kept = []
    for word in name.split():
        if word in NOT_NAMES_TITLE or word.lower() in NOT_NAMES:
            break
        kept.append(word)
    return " ".join(kept)


def mask_names(text: str) -> str:
    spans: list[tuple[int, int]] = []
    for cue in NAME_CUES:
        for match in cue.finditer(text):
            name = _trim_name(match.group("name"))
            if name:
                start = match.start("name")
                spans.append((start, start + len(name)))
    merged: list[list[int]] = []  # two cues may find the same name
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in reversed(merged):
        if text[start:end] != NAME_MASK:
            text = text[:start] + NAME_MASK + text[end:]
    return text


def mask(text: str) -> str:
    """The text with emails, US phone numbers and names replaced by [EMAIL], [PHONE], [NAME]."""
    text = EMAIL.sub(EMAIL_MASK, text)  # first: an address's digits are not a phone number
    text = PHONE.sub(PHONE_MASK, text)
    return mask_names(text)
