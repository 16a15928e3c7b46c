"""When the new-patient coordinators are at work, and when they are back."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.settings import HandoffSettings


def is_open(moment: datetime, settings: HandoffSettings) -> bool:
    local = moment.astimezone(ZoneInfo(settings.timezone))
    return (
        local.weekday() < 5
        and local.date() not in settings.holidays
        and settings.opens <= local.time() < settings.closes
    )


def next_opening(moment: datetime, settings: HandoffSettings) -> datetime:
    """The next time the office opens after `moment` (local time, DST-aware)."""
    zone = ZoneInfo(settings.timezone)
    local = moment.astimezone(zone)
    day = local.date()
    if local.time() >= settings.opens:
        day += timedelta(days=1)
    while day.weekday() >= 5 or day in settings.holidays:
        day += timedelta(days=1)
    return datetime.combine(day, settings.opens, tzinfo=zone)


def describe_opening(opening: datetime, moment: datetime) -> str:
    """'tomorrow at 8:00 AM', 'Monday at 8:00 AM', 'Monday, December 28 at 8:00 AM'."""
    local_now = moment.astimezone(opening.tzinfo)
    clock = opening.strftime("%I:%M %p").lstrip("0")
    days = (opening.date() - local_now.date()).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"{opening.strftime('%A')} at {clock}"
    return f"{opening.strftime('%A, %B')} {opening.day} at {clock}"
