"""Tells the coordinators about handoff requests: email over SMTP and an optional webhook.

At-least-once: `deliver_due` sends every pending notification whose time has come and
marks it sent only after the server accepted it; a failure stays pending with a later
`next_attempt_at` (exponential back-off). The action tries once right away; the worker
started by `make run` (`python -m core.notify`) retries the rest.

Email is not a safe place for what families tell us: by default the coordinators' email
holds the reference and the console link only, like the webhook. The details and the
transcript are added only when CART_SMTP_FULL_DETAILS is on and this very connection went
over STARTTLS with a verified certificate and logged in; a server that offers no STARTTLS
gets the short email (and never the password).
"""

from __future__ import annotations

import argparse
import json
import logging
import smtplib
import ssl
import time
from datetime import datetime, timedelta
from email.message import EmailMessage

import requests
from sqlalchemy import select, update

from core.handoff_store import HandoffRequest, Notification, session_for, utcnow
from core.settings import HandoffSettings, load_handoff_settings

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=30)
# Longer than a send can take (SMTP timeout, webhook timeout), so a claim outlives it.
SENDING_LEASE = timedelta(minutes=2)
ROLE_LABELS = {
    "parent": "Parent or guardian",
    "patient": "Patient",
    "clinician": "Referring clinician",
    "other": "Other",
}


def notification_kinds(settings: HandoffSettings) -> list[str]:
    return ["email"] + (["webhook"] if settings.webhook_url else [])


def request_link(request: HandoffRequest, settings: HandoffSettings) -> str | None:
    if not settings.console_url:
        return None
    return f"{settings.console_url.rstrip('/')}/requests/{request.reference}"


def compose_email(
    request: HandoffRequest, settings: HandoffSettings, details: bool = False
) -> EmailMessage:
    """The subject carries the reference only: mail subjects end up in too many places.
    Without `details`, neither does the body carry anything the family told us."""
    message = EmailMessage()
    message["Subject"] = request.reference
    message["From"] = settings.smtp_sender
    message["To"] = ", ".join(settings.smtp_recipients)
    lines = [
        f"New request for a coordinator: {request.reference}",
        f"Received: {request.created_at:%Y-%m-%d %H:%M} UTC, through {request.channel}",
    ]
    link = request_link(request, settings)
    if not details:
        where = f"Open the request: {link}" if link else "Open it in the coordinators' console."
        lines += ["", where, "", "The family's details are in the console, not in email."]
        message.set_content("\n".join(lines))
        return message
    lines += [
        "",
        f"Name: {request.name}",
        f"Who: {ROLE_LABELS.get(request.role, request.role)}",
        f"Contact ({request.contact_kind}): {request.contact_value}",
        f"Patient's age: {request.patient_age or 'not given'}",
        f"Consent to be contacted: {'yes' if request.consent else 'no'}",
        "",
        "What they need:",
        request.need,
    ]
    if link:
        lines += ["", f"Open the request: {link}"]
    lines += ["", "Conversation:"]
    for turn in json.loads(request.transcript):
        lines.append(f"  [{turn.get('at', '')}] {turn['who']}: {turn['text']}")
    message.set_content("\n".join(lines))
    return message


def webhook_payload(request: HandoffRequest, settings: HandoffSettings) -> dict:
    return {
        "reference": request.reference,
        "created_at": request.created_at.isoformat(),
        "channel": request.channel,
        "role": request.role,
        "link": request_link(request, settings),
        "text": f"New request for a coordinator: {request.reference}",
    }


def _tls_context(settings: HandoffSettings) -> ssl.SSLContext:
    """Certificate and host name checked (create_default_context's defaults)."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def send_email(request: HandoffRequest, settings: HandoffSettings) -> bool:
    """Sends the email; True when it carried the family's details. A certificate that
    does not verify, or a refused login, raises: nothing is sent, the worker retries."""
    secure = logged_in = False
    address = (settings.smtp_host, settings.smtp_port)
    with smtplib.SMTP(*address, timeout=settings.smtp_timeout) as smtp:
        smtp.ehlo()
        if settings.smtp_full_details or settings.smtp_username:
            if smtp.has_extn("starttls"):
                smtp.starttls(context=_tls_context(settings))
                smtp.ehlo()
                secure = True
            else:
                logger.warning("The SMTP server offers no STARTTLS: reference and link only")
        if secure and settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
            logged_in = True
        details = settings.smtp_full_details and secure and logged_in
        smtp.send_message(compose_email(request, settings, details=details))
    return details


def _send(notification: Notification, settings: HandoffSettings) -> None:
    request = notification.request
    if notification.kind == "email":
        send_email(request, settings)
    elif notification.kind == "webhook":
        response = requests.post(
            settings.webhook_url,
            json=webhook_payload(request, settings),
            timeout=settings.smtp_timeout,
        )
        response.raise_for_status()
    else:
        raise ValueError(f"unknown notification kind {notification.kind!r}")


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=5 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_due(
    settings: HandoffSettings, now: datetime | None = None, request_id: int | None = None
) -> tuple[int, int]:
    """Sends what is due; returns (sent, failed). Never raises for a delivery failure."""
    now = now or utcnow()
    sent = failed = 0
    with session_for(settings.database_url) as session:
        query = select(Notification.id).where(
            Notification.status == "pending", Notification.next_attempt_at <= now
        )
        if request_id is not None:
            query = query.where(Notification.request_id == request_id)
        due = list(session.scalars(query).all())
    for notification_id in due:
        if not _claim(settings.database_url, notification_id, now):
            continue  # the action or another worker is sending it
        with session_for(settings.database_url) as session:
            notification = session.get(Notification, notification_id)
            if notification is None:  # deleted meanwhile (retention, "forget")
                continue
            notification.attempts += 1
            try:
                _send(notification, settings)
            except Exception as error:  # noqa: BLE001 - any failure means "try again later"
                failed += 1
                notification.next_attempt_at = now + backoff(notification.attempts)
                # The error's type only: messages can echo addresses or content.
                notification.last_error = type(error).__name__
                logger.warning(
                    "Notification %s for request %s failed (%s); retry at %s",
                    notification.kind,
                    notification.request.reference,
                    type(error).__name__,
                    notification.next_attempt_at.isoformat(),
                )
            else:
                sent += 1
                notification.status = "sent"
                notification.sent_at = utcnow()
                logger.info(
                    "Notification %s sent for request %s",
                    notification.kind,
                    notification.request.reference,
                )
            session.commit()
    return sent, failed


def _claim(database_url: str, notification_id: int, now: datetime) -> bool:
    """Takes one notification for this process: one conditional UPDATE moves its next
    attempt a lease into the future, so the action's try and the worker's pass (or two
    workers) never both send it, on SQLite as on PostgreSQL. A process that dies while
    sending leaves it due again when the lease ends (at least once, never twice at once)."""
    with session_for(database_url) as session, session.begin():
        result = session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status == "pending",
                Notification.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + SENDING_LEASE)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def main() -> int:
    parser = argparse.ArgumentParser(description="Deliver pending coordinator notifications.")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_handoff_settings()
    while True:
        try:
            deliver_due(settings)
        except Exception as error:  # noqa: BLE001 - database down: keep trying
            logger.error("Delivery pass failed: %s", type(error).__name__)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
