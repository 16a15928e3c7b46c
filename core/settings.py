"""The one place for the program's configuration.

Every value is read from the environment, with a local default that works on a
developer's machine. Answers in `domain.yml` use the contact details through
placeholders (`{program_phone}` ...), filled in by `components.program_nlg`, so a
phone number changes here and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import date, time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


@dataclass(frozen=True)
class HandoffSettings:
    """Where handoff requests are stored and how coordinators hear about them."""

    database_url: str
    smtp_host: str
    smtp_port: int
    smtp_sender: str
    smtp_recipients: tuple[str, ...]
    smtp_timeout: float
    # By default an email carries the reference and the console link only (as the
    # webhook). The family's details and transcript go by email only when this is on AND
    # the server takes STARTTLS with a valid certificate AND the login below succeeds.
    smtp_full_details: bool
    smtp_username: str
    smtp_password: str
    # CA bundle for the SMTP server's certificate (a hospital's own CA); empty: the system's.
    smtp_ca_file: str
    webhook_url: str
    console_url: str
    # Office hours of the new-patient coordinators, in their time zone.
    timezone: str
    opens: time
    closes: time
    holidays: tuple[date, ...]


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def load_handoff_settings() -> HandoffSettings:
    default_db = f"sqlite:///{PROJECT_ROOT / 'var' / 'handoffs.db'}"
    recipients = _env("CART_SMTP_RECIPIENTS", "newpatient.coordinators@example.org")
    holidays = _env(
        "CART_HOLIDAYS",
        # US federal holidays the hospital's clinics observe (2026-2027); override as needed.
        "2026-01-01,2026-01-19,2026-02-16,2026-05-25,2026-06-19,2026-07-03,2026-09-07,"
        "2026-11-26,2026-11-27,2026-12-25,2027-01-01,2027-01-18,2027-02-15,2027-05-31,"
        "2027-06-18,2027-07-05,2027-09-06,2027-11-25,2027-11-26,2027-12-24",
    )
    return HandoffSettings(
        database_url=_env("CART_DATABASE_URL", default_db),
        smtp_host=_env("CART_SMTP_HOST", "127.0.0.1"),
        smtp_port=int(_env("CART_SMTP_PORT", "1025")),
        smtp_sender=_env("CART_SMTP_SENDER", "car-t-assistant@localhost"),
        smtp_recipients=tuple(r.strip() for r in recipients.split(",") if r.strip()),
        smtp_timeout=float(_env("CART_SMTP_TIMEOUT", "5")),
        smtp_full_details=_env("CART_SMTP_FULL_DETAILS", "false").lower() in ("1", "true", "yes"),
        smtp_username=os.environ.get("CART_SMTP_USERNAME", "").strip(),
        smtp_password=os.environ.get("CART_SMTP_PASSWORD", ""),
        smtp_ca_file=os.environ.get("CART_SMTP_CA_FILE", "").strip(),
        webhook_url=os.environ.get("CART_WEBHOOK_URL", "").strip(),
        console_url=os.environ.get("CART_CONSOLE_URL", "").strip(),
        timezone=_env("CART_OFFICE_TIMEZONE", "America/New_York"),
        opens=_time(_env("CART_OFFICE_OPENS", "08:00")),
        closes=_time(_env("CART_OFFICE_CLOSES", "17:00")),
        holidays=tuple(date.fromisoformat(d.strip()) for d in holidays.split(",") if d.strip()),
    )


@dataclass(frozen=True)
class ChannelSettings:
    """What the chat channels (REST and socket.io) accept, and from whom."""

    # Longer messages are refused with a kind note (the widget stops them first).
    max_message_length: int
    # Web pages whose scripts may talk to the channels (CORS, and the socket.io handshake's
    # Origin check). Clients that send no Origin (servers, the shell) are not browsers.
    allowed_origins: tuple[str, ...]
    # Messages per minute from one conversation, and from one network address (a
    # hospital's Wi-Fi puts many families behind one address). 0 turns a limit off.
    sender_messages_per_minute: int
    address_messages_per_minute: int
    # Proxies (load balancers) whose X-Forwarded-For names the family's address.
    trusted_proxies: tuple[str, ...]
    # The widget's customData rides along with every message; more than this is dropped.
    max_metadata_bytes: int
    # Signs the conversation ids the socket.io channel issues (channels/session_ids.py):
    # the same secret on every Rasa server. Empty: a key made once in var/session-key.
    session_key: str = ""
    # Redis that the Rasa servers' socket.io servers share, so any server reaches any
    # family's widget (a coordinator's words, in the scaled set-up). Empty: one server.
    socketio_redis_url: str = ""


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _web_page_origins() -> str:
    """The families' web page that `make run` serves (WEB_HOST, WEB_PORT)."""
    host, port = _env("WEB_HOST", "127.0.0.1"), _env("WEB_PORT", "8080")
    origins = [f"http://{host}:{port}"]
    if host == "127.0.0.1":
        origins.append(f"http://localhost:{port}")
    return ",".join(origins)


def load_channel_settings() -> ChannelSettings:
    return ChannelSettings(
        max_message_length=int(_env("CART_MAX_MESSAGE_LENGTH", "2000")),
        allowed_origins=_list(_env("CART_ALLOWED_ORIGINS", _web_page_origins())),
        sender_messages_per_minute=int(_env("CART_SENDER_MESSAGES_PER_MINUTE", "30")),
        address_messages_per_minute=int(_env("CART_ADDRESS_MESSAGES_PER_MINUTE", "600")),
        trusted_proxies=_list(_env("CART_TRUSTED_PROXIES", "")),
        max_metadata_bytes=int(_env("CART_MAX_METADATA_BYTES", "4096")),
        session_key=os.environ.get("CART_SESSION_KEY", "").strip(),
        socketio_redis_url=_env(
            "CART_SOCKETIO_REDIS_URL", os.environ.get("CART_LOCK_STORE_URL", "").strip()
        ),
    )


@dataclass(frozen=True)
class FloodSettings:
    """Limits of their own for what a flood could abuse: handoff requests (each lands in
    the coordinators' inbox and mail) and emergency answers past the message limits."""

    # Requests stored per conversation and per network address within the window (0: off).
    handoffs_per_conversation: int
    handoffs_per_address: int
    handoff_window_hours: float
    # An emergency past the message limits still gets the emergency answer, straight from
    # the channel (no model, nothing stored), this many a minute per conversation and per
    # address; beyond that, the "slow down" answer, which also says to call 911.
    emergency_answers_per_minute: int


def load_flood_settings() -> FloodSettings:
    return FloodSettings(
        handoffs_per_conversation=int(_env("CART_HANDOFFS_PER_CONVERSATION", "3")),
        handoffs_per_address=int(_env("CART_HANDOFFS_PER_ADDRESS", "20")),
        handoff_window_hours=float(_env("CART_HANDOFF_WINDOW_HOURS", "24")),
        emergency_answers_per_minute=int(_env("CART_EMERGENCY_ANSWERS_PER_MINUTE", "10")),
    )


@dataclass(frozen=True)
class WebSettings:
    """The families' web page with the chat widget (web/server.py)."""

    host: str
    port: int
    # Where the widget in a family's browser reaches the Rasa server's socket.io channel.
    socket_url: str
    widget_title: str


def _rasa_server_url() -> str:
    """Where `make run` starts the Rasa server (RASA_HOST, RASA_PORT)."""
    return f"http://{_env('RASA_HOST', '127.0.0.1')}:{_env('RASA_PORT', '5005')}"


def load_web_settings() -> WebSettings:
    return WebSettings(
        host=_env("WEB_HOST", "127.0.0.1"),
        port=int(_env("WEB_PORT", "8080")),
        socket_url=_env("CART_WIDGET_SOCKET_URL", _rasa_server_url()),
        widget_title=_env("CART_WIDGET_TITLE", "CAR T-cell therapy program"),
    )


@dataclass(frozen=True)
class ConsoleSettings:
    """The coordinators' console (console/server.py) and its link to the Rasa server."""

    host: str
    port: int
    database_url: str
    # The Rasa server's HTTP API, for the live takeover; enabled only with this token.
    rasa_url: str
    rasa_token: str
    session_hours: float
    # A session unused this long ends (the live view's polling does not count as use).
    idle_minutes: float
    # Failed log-ins allowed per account and per network address before each further
    # attempt waits, doubling from 1 s up to `login_backoff_max_seconds`: a slow-down,
    # never a lock-out an attacker could impose on a real coordinator.
    max_failed_logins: int
    max_failed_logins_per_address: int
    login_backoff_max_seconds: float
    # Cookies only over HTTPS (and HSTS): on unless explicitly turned off for a console
    # on loopback (`make run`); the console refuses to serve other hosts without them.
    secure_cookies: bool
    # A coordinator whose console stops asking for news for this long has left: the
    # family is told and the assistant resumes.
    takeover_timeout_seconds: float


def load_console_settings() -> ConsoleSettings:
    return ConsoleSettings(
        host=_env("CART_CONSOLE_HOST", "127.0.0.1"),
        port=int(_env("CART_CONSOLE_PORT", "8081")),
        database_url=load_handoff_settings().database_url,
        rasa_url=_env("CART_RASA_URL", _rasa_server_url()),
        rasa_token=os.environ.get("CART_RASA_API_TOKEN", "").strip(),
        session_hours=float(_env("CART_CONSOLE_SESSION_HOURS", "8")),
        idle_minutes=float(_env("CART_CONSOLE_IDLE_MINUTES", "30")),
        max_failed_logins=int(_env("CART_CONSOLE_MAX_FAILED_LOGINS", "5")),
        max_failed_logins_per_address=int(_env("CART_CONSOLE_MAX_FAILED_LOGINS_PER_ADDRESS", "20")),
        login_backoff_max_seconds=float(_env("CART_CONSOLE_LOGIN_BACKOFF_MAX_SECONDS", "60")),
        secure_cookies=_env("CART_CONSOLE_SECURE_COOKIES", "true").lower() in ("1", "true", "yes"),
        takeover_timeout_seconds=float(_env("CART_TAKEOVER_TIMEOUT", "30")),
    )


@dataclass(frozen=True)
class TrackerSettings:
    """Where the Rasa server keeps conversations (components/tracker_store.py)."""

    url: str
    # Conversations idle this long, and closed requests this old, are deleted by
    # `python -m console.retention purge`.
    retention_days: float
    # Requests never closed are deleted by the same purge once this old: a request nobody
    # closed must not keep a family's details forever.
    open_request_days: float
    # Redis (redis://host:port/db) for the conversation locks that several Rasa servers
    # share (components/lock_store.py); empty: in-memory locks, for one server.
    lock_store_url: str
    # Rasa gets the latest this many user messages of a conversation (and the state where
    # they start), not the whole session, so a message costs the same at turn 500 as at
    # turn 5 (components/tracker_window.py); 0: the whole session, as Rasa does.
    window_turns: int = 8


def load_tracker_settings() -> TrackerSettings:
    default = f"sqlite:///{PROJECT_ROOT / 'var' / 'conversations.db'}"
    return TrackerSettings(
        url=_env("CART_TRACKER_URL", default),
        retention_days=float(_env("CART_RETENTION_DAYS", "90")),
        open_request_days=float(_env("CART_OPEN_REQUEST_DAYS", "180")),
        lock_store_url=os.environ.get("CART_LOCK_STORE_URL", "").strip(),
        window_turns=int(_env("CART_TRACKER_WINDOW_TURNS", "8")),
    )


@dataclass(frozen=True)
class ActionServerSettings:
    """The action server (actions/secured_server.py) and what it asks of its callers."""

    # SANIC_HOST, as rasa-sdk names it: loopback unless an internal address is given.
    host: str
    # The shared secret the Rasa servers send in the X-Cart-Action-Secret header
    # (deploy/endpoints.yml). Empty: no check, allowed on loopback only.
    secret: str


def load_action_server_settings() -> ActionServerSettings:
    return ActionServerSettings(
        host=_env("SANIC_HOST", "127.0.0.1"),
        secret=os.environ.get("CART_ACTION_SERVER_SECRET", "").strip(),
    )


@dataclass(frozen=True)
class ScaledSetupSettings:
    """The scaled set-up on one machine (`make scale`, scripts/scaled_stack.py): several
    Rasa and action servers behind nginx, sharing these. A deployment sets
    CART_TRACKER_URL, CART_DATABASE_URL and CART_LOCK_STORE_URL itself."""

    postgres_url: str
    redis_url: str
    rasa_servers: int
    action_servers: int
    port: int


def load_scaled_setup_settings() -> ScaledSetupSettings:
    return ScaledSetupSettings(
        postgres_url=_env(
            "CART_SCALED_POSTGRES_URL",
            "postgresql+psycopg2://postgres@127.0.0.1:5432/cart_assistant",
        ),
        redis_url=_env("CART_SCALED_REDIS_URL", "redis://127.0.0.1:6379/1"),
        rasa_servers=int(_env("CART_SCALED_RASA_SERVERS", "2")),
        action_servers=int(_env("CART_SCALED_ACTION_SERVERS", "2")),
        port=int(_env("CART_SCALED_PORT", "5080")),
    )
