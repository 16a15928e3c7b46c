"""Hands a conversation to the program's new-patient coordinators.

The form (`handoff_form`) asks who the family is and how to reach them; the custom
action stores the request durably, then tries to notify the coordinators. Nothing is
stored when the family stops, does not consent, or gives up after three failed answers.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.eligibility import parse_age
from core import handoff_limits
from core.contact_validation import parse_contact, readable_contact
from core.handoff_store import NewHandoff, create_request
from core.notify import deliver_due, notification_kinds
from core.office_hours import describe_opening, is_open, next_opening
from core.settings import load_flood_settings, load_handoff_settings
from core.transcript import build_transcript

logger = logging.getLogger(__name__)

FORM_SLOTS = (
    "handoff_name",
    "handoff_role",
    "handoff_contact",
    "handoff_age",
    "handoff_need",
    "handoff_consent",
)
MAX_FAILURES = 3
MAX_NEED_LENGTH = 1000
AGE_NOT_GIVEN = "not given"

_ROLES = (
    ("clinician", r"doctor|physician|clinician|oncologist|nurse|np\b|md\b|provider|referr"),
    ("patient", r"patient|\bme\b|myself|i am the|i'm the|^i am$"),
    ("parent", r"parent|guardian|mom|mum|mother|dad|father|grand|aunt|uncle|family|caregiver"),
    ("other", r"other|friend|someone else|social worker"),
)
_YES = re.compile(r"^\s*(yes|yeah|yep|y|sure|ok|okay|i agree|agree|i consent|please do)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|n|don't|do not|i do not)\b", re.I)
_SKIP = re.compile(r"^\s*(skip|no|none|n/?a|rather not|prefer not|don'?t want|pass)\b", re.I)


def parse_role(text: str) -> str | None:
    lowered = (text or "").lower()
    return next((role for role, pattern in _ROLES if re.search(pattern, lowered)), None)


# Replies to "What is your name?" that are not a name: asked again, not stored as one.
_NOT_A_NAME = {"help", "hi", "hello", "hey", "yes", "no", "ok", "okay", "what", "why", "how",
               "skip", "none", "idk", "thanks", "thank you", "coordinator", "a person"}  # fmt: skip
MAX_NAME_WORDS = 6


def parse_name(text: str) -> str | None:
    name = re.sub(r"^(my name is|i am|i'm|this is|it's)\s+", "", (text or "").strip(), flags=re.I)
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200 or not re.search(r"[^\W\d_]", name):
        return None
    # A question or a sentence is not a name ("what is crs?", "I need help with my son").
    if "?" in name or len(name.split()) > MAX_NAME_WORDS or name.lower() in _NOT_A_NAME:
        return None
    return name


def parse_consent(value: Any) -> bool | None:
    """True or False from a button (bool) or typed words; None when it is neither."""
    if isinstance(value, bool):
        return value
    text = str(value or "")
    if _YES.search(text):
        return True
    if _NO.search(text):
        return False
    return None


class ValidateHandoffForm(FormValidationAction):
    """Checks each answer; three failed answers in a row end the form kindly."""

    def name(self) -> str:
        return "validate_handoff_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if (tracker.get_slot("handoff_failures") or 0) >= MAX_FAILURES:
            return []  # ends the form: the action then gives the direct contacts
        return domain_slots

    @staticmethod
    def _checked(
        slot: str,
        parsed: Any,
        tracker: Tracker,
        dispatcher: CollectingDispatcher,
        ask_again: str,
    ) -> dict[str, Any]:
        """Accepts a parsed answer, or counts a failure and asks again with an example.

        The third failure in a row asks nothing: `required_slots` then ends the form and
        the action gives the direct contacts.
        """
        if parsed is not None:
            return {slot: parsed, "handoff_failures": 0}
        failures = (tracker.get_slot("handoff_failures") or 0) + 1
        if failures < MAX_FAILURES:
            dispatcher.utter_message(response=ask_again)
        return {slot: None, "handoff_failures": failures}

    def validate_handoff_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = parse_name(str(value or ""))
        return self._checked("handoff_name", name, tracker, dispatcher, "utter_handoff_name_again")

    def validate_handoff_role(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        role = parse_role(str(value or ""))
        return self._checked("handoff_role", role, tracker, dispatcher, "utter_handoff_role_again")

    def validate_handoff_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        contact = parse_contact(str(value or ""))
        return self._checked(
            "handoff_contact",
            contact.value if contact else None,
            tracker,
            dispatcher,
            "utter_handoff_contact_again",
        )

    def validate_handoff_age(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        years = parse_age(text)
        age = AGE_NOT_GIVEN if _SKIP.search(text) else (None if years is None else f"{years:g}")
        return self._checked("handoff_age", age, tracker, dispatcher, "utter_handoff_age_again")

    def validate_handoff_need(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        need = " ".join(str(value or "").split())
        need_or_none = need[:MAX_NEED_LENGTH] if len(need) >= 2 else None
        return self._checked(
            "handoff_need", need_or_none, tracker, dispatcher, "utter_handoff_need_again"
        )

    def validate_handoff_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._checked(
            "handoff_consent", parse_consent(value), tracker, dispatcher,
            "utter_handoff_consent_again",
        )  # fmt: skip


def clear_form() -> list[EventType]:
    return [SlotSet(slot, None) for slot in (*FORM_SLOTS, "handoff_failures")]


class ActionHandoffToCoordinator(Action):
    """Stores the request, tells the family what happens next, notifies the coordinators."""

    def name(self) -> str:
        return "action_handoff_to_coordinator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if (tracker.get_slot("handoff_failures") or 0) >= MAX_FAILURES:
            dispatcher.utter_message(response="utter_handoff_gave_up")
            return clear_form()
        if tracker.get_slot("handoff_consent") is not True:
            dispatcher.utter_message(response="utter_handoff_no_consent")
            return clear_form()

        settings = load_handoff_settings()
        limits = load_flood_settings()
        address = handoff_limits.address_of(tracker.events)
        try:
            refused = handoff_limits.refusal(
                settings.database_url, tracker.sender_id, address, limits
            )
        except Exception as error:  # noqa: BLE001 - a broken count must not stop a family
            logger.error("Could not check the handoff limits: %s", type(error).__name__)
            refused = None
        if refused is not None:
            # Nothing stored, nobody mailed: a flood must not fill the coordinators' inbox.
            logger.warning("Handoff request refused: too many from one %s", refused.reason)
            if refused.reference:  # this conversation already has requests: the latest
                dispatcher.utter_message(
                    response="utter_handoff_reference", reference=refused.reference
                )
                return [*clear_form(), SlotSet("handoff_reference", refused.reference)]
            dispatcher.utter_message(response="utter_handoff_not_saved")  # gives the phone
            return clear_form()
        contact = parse_contact(tracker.get_slot("handoff_contact") or "")
        age = tracker.get_slot("handoff_age")
        new = NewHandoff(
            sender_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "unknown",
            name=tracker.get_slot("handoff_name") or "",
            role=tracker.get_slot("handoff_role") or "other",
            contact_kind=contact.kind if contact else "unknown",
            contact_value=contact.value if contact else str(tracker.get_slot("handoff_contact")),
            patient_age=None if age in (None, AGE_NOT_GIVEN) else str(age),
            need=tracker.get_slot("handoff_need") or "",
            consent=True,
            transcript=build_transcript(tracker.events),
        )
        try:
            request = create_request(settings.database_url, new, notification_kinds(settings))
        except Exception as error:  # noqa: BLE001 - the family must get an honest answer
            # No personal data in the log: only what failed.
            logger.error("Could not store a handoff request: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_handoff_not_saved")
            return clear_form()

        logger.info("Handoff request %s stored (channel %s)", request.reference, new.channel)
        try:
            handoff_limits.remember(settings.database_url, address, limits)
        except Exception as error:  # noqa: BLE001 - the request is stored: go on
            logger.warning("Could not count the request's address: %s", type(error).__name__)
        now = datetime.now(timezone.utc)
        if is_open(now, settings):
            dispatcher.utter_message(
                response="utter_handoff_saved_open_hours", reference=request.reference
            )
        else:
            back = describe_opening(next_opening(now, settings), now)
            dispatcher.utter_message(
                response="utter_handoff_saved_closed",
                reference=request.reference,
                coordinators_back=back,
            )
        try:
            deliver_due(settings, request_id=request.id)
        except Exception as error:  # noqa: BLE001 - stays pending; the worker retries
            logger.warning("Notifying for %s deferred: %s", request.reference, type(error).__name__)
        return [*clear_form(), SlotSet("handoff_reference", request.reference)]


class ActionCancelHandoff(Action):
    """The family stopped: nothing is stored, and they still get the direct contacts."""

    def name(self) -> str:
        return "action_cancel_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_handoff_cancelled")
        return clear_form()


class ActionAskHandoffConsent(Action):
    """The consent question, with the contact as the family would write it: stored as
    +16175550123, asked as (617) 555-0123. The form asks with it (action_ask_<slot>)."""

    def name(self) -> str:
        return "action_ask_handoff_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        contact = str(tracker.get_slot("handoff_contact") or "")
        dispatcher.utter_message(
            response="utter_ask_handoff_consent", handoff_contact=readable_contact(contact)
        )
        return []


class ActionTellReference(Action):
    """'What is my reference?' later in the same conversation."""

    def name(self) -> str:
        return "action_tell_reference"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reference = tracker.get_slot("handoff_reference")
        if reference:
            dispatcher.utter_message(response="utter_handoff_reference", reference=reference)
        else:
            dispatcher.utter_message(response="utter_no_reference")
        return []
