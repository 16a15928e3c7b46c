"""The one place for the program's configuration.

Every value is read from the environment, with a local default that works on a
developer's machine. Answers in `domain.yml` use the contact details through
placeholders (`{program_phone}` ...), filled in by `components.program_nlg`, so a
phone number changes here and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class ProgramContacts:
    """Who families reach, and how. Sources: the seed page and facts.yml (contact_info)."""

    # New families and referring doctors: the program contact on the seed page.
    program_contact: str
    program_phone: str
    program_email: str
    # Questions and referrals by email, and young adults (18-25) at the adult program.
    gene_therapy_email: str
    young_adult_phone: str
    # Families already treated: the Jimmy Fund Clinic, and the page operator after hours.
    care_team_phone: str
    care_team_after_hours_phone: str

    def placeholders(self) -> dict[str, str]:
        """Values for the `{name}` placeholders of the domain's responses."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def load_contacts() -> ProgramContacts:
    return ProgramContacts(
        program_contact=_env(
            "CART_PROGRAM_CONTACT",
            "Colleen Dansereau, RN, Director of Clinical Operations, Gene Therapy Program",
        ),
        program_phone=_env("CART_PROGRAM_PHONE", "617-919-7008"),
        program_email=_env("CART_PROGRAM_EMAIL", "colleen.dansereau@childrens.harvard.edu"),
        gene_therapy_email=_env("CART_GENE_THERAPY_EMAIL", "gene.therapy@childrens.harvard.edu"),
        young_adult_phone=_env("CART_YOUNG_ADULT_PHONE", "877-801-2278"),
        care_team_phone=_env("CART_CARE_TEAM_PHONE", "617-632-3270"),
        care_team_after_hours_phone=_env("CART_CARE_TEAM_AFTER_HOURS_PHONE", "617-632-3352"),
    )
