"""Checks and normalises how a family wants to be reached: a phone number or an email."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_REGION = "US"  # the program's families mostly call from the US


@dataclass(frozen=True)
class Contact:
    kind: str  # "phone" or "email"
    value: str  # E.164 phone number or normalised email


def parse_contact(text: str) -> Contact | None:
    """A valid phone number or email in `text`, normalised; None when there is none."""
    text = (text or "").strip()
    if not text or len(text) > 254:
        return None
    if "@" in text:
        candidate = next((word.strip(".,;:()<>") for word in text.split() if "@" in word), text)
        try:
            valid = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError:
            return None
        return Contact("email", valid.normalized)
    for match in phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION):
        if phonenumbers.is_valid_number(match.number):
            return Contact(
                "phone",
                phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
            )
    return None


def readable_contact(value: str) -> str:
    """A stored contact as a family writes it: a US number as (617) 555-0123, another
    country's with its code (+44 20 7946 0958); an email as it is."""
    if not value.startswith("+"):
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    home = phonenumbers.region_code_for_number(number) == DEFAULT_REGION
    style = phonenumbers.PhoneNumberFormat.NATIONAL if home else \
        phonenumbers.PhoneNumberFormat.INTERNATIONAL  # fmt: skip
    return phonenumbers.format_number(number, style)
