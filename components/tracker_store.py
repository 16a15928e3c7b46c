"""Where the Rasa server keeps conversations: Rasa's SQL tracker store, on the database
named by CART_TRACKER_URL (actions/settings.py). SQLite under var/ by default, so a
conversation goes on with its history after a restart; PostgreSQL in production.

Named in endpoints.yml (`tracker_store: type: components.tracker_store.ProgramTrackerStore`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from sqlalchemy.engine import make_url

from actions.settings import load_tracker_settings

# The table Rasa's SQLTrackerStore keeps events in (rasa.core.tracker_store.SQLEvent).
EVENTS_TABLE = "events"


class ProgramTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore, configured from the project's settings."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        url = load_tracker_settings().url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A full URL as `host` is used as it is (SQLTrackerStore.get_db_url).
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
