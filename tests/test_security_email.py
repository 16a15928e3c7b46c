"""Issue #15, item 4: the coordinators' email carries the reference and the console link
only, unless full details are configured AND the connection goes over STARTTLS with a
verified certificate AND logs in (core/notify.py). Real aiosmtpd servers on loopback:
one plain (tests/conftest.py's smtp_server), one with STARTTLS and AUTH."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.handoff_store import NewHandoff, create_request, recent_requests
from core.notify import deliver_due
from core.settings import HandoffSettings, load_handoff_settings
from tests.conftest import MailSink, SmtpServer
from tests.servers import free_port

NAME, PHONE, NEED = "Maria Lopez", "+16175550123", "Could my son get CAR T?"
USER, PASSWORD = "cart-mailer", "correct horse battery staple"


def body(message: Message) -> str:
    return message.get_payload(decode=True).decode()


def assert_no_details(text: str) -> None:
    for secret in (NAME, "Maria", PHONE, NEED, "hello, we need help"):
        assert secret not in text, secret


@dataclass
class TlsSmtp:
    port: int
    sink: MailSink
    ca_file: Path
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA), written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cart-test-smtp")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[TlsSmtp]:
    """STARTTLS required before anything is sent; AUTH only over TLS."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = TlsSmtp(free_port(), MailSink(), cert_file)

    def authenticator(_server, _session, _envelope, mechanism, data) -> AuthResult:
        if isinstance(data, LoginPassword):
            server.logins.append((data.login, data.password))
            expected = (USER.encode(), PASSWORD.encode())
            return AuthResult(success=(data.login, data.password) == expected)
        return AuthResult(success=False)

    controller = Controller(
        server.sink,
        hostname="127.0.0.1",
        port=server.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield server
    with contextlib.suppress(AssertionError, RuntimeError):
        controller.stop()


def settings_for(tmp_path: Path, port: int, **changes: object) -> HandoffSettings:
    return replace(
        load_handoff_settings(),
        database_url=f"sqlite:///{tmp_path / 'handoffs.db'}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        console_url="https://console.example.org",
        **changes,
    )


def a_request(settings: HandoffSettings) -> str:
    new = NewHandoff(
        sender_id="family-1",
        channel="socketio",
        name=NAME,
        role="parent",
        contact_kind="phone",
        contact_value=PHONE,
        patient_age="9",
        need=NEED,
        consent=True,
        transcript=[{"who": "family", "text": "hello, we need help", "at": "10:00"}],
    )
    return create_request(settings.database_url, new, ["email"]).reference


def test_by_default_the_email_holds_the_reference_and_the_link_only(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_server.port)
    reference = a_request(settings)
    assert deliver_due(settings) == (1, 0)
    [email] = smtp_server.sink.messages
    assert email["Subject"] == reference
    assert f"https://console.example.org/requests/{reference}" in body(email)
    assert_no_details(body(email))


def test_a_server_without_starttls_gets_no_details_and_never_the_password(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = settings_for(
        tmp_path, smtp_server.port, smtp_full_details=True, smtp_username=USER,
        smtp_password=PASSWORD,
    )  # fmt: skip
    reference = a_request(settings)
    assert deliver_due(settings) == (1, 0)
    [email] = smtp_server.sink.messages
    assert email["Subject"] == reference
    assert_no_details(body(email))
    assert PASSWORD not in email.as_string()


def test_details_go_over_verified_starttls_with_login_when_configured(
    tmp_path: Path, tls_smtp: TlsSmtp
) -> None:
    settings = settings_for(
        tmp_path, tls_smtp.port, smtp_full_details=True, smtp_username=USER,
        smtp_password=PASSWORD, smtp_ca_file=str(tls_smtp.ca_file),
    )  # fmt: skip
    reference = a_request(settings)
    assert deliver_due(settings) == (1, 0)
    [email] = tls_smtp.sink.messages
    assert email["Subject"] == reference
    text = body(email)
    assert NAME in text and PHONE in text and NEED in text and "hello, we need help" in text
    assert tls_smtp.logins == [(USER.encode(), PASSWORD.encode())]


def test_without_the_details_setting_even_a_secure_server_gets_the_short_email(
    tmp_path: Path, tls_smtp: TlsSmtp
) -> None:
    settings = settings_for(
        tmp_path, tls_smtp.port, smtp_username=USER, smtp_password=PASSWORD,
        smtp_ca_file=str(tls_smtp.ca_file),
    )  # fmt: skip
    a_request(settings)
    assert deliver_due(settings) == (1, 0)
    [email] = tls_smtp.sink.messages
    assert_no_details(body(email))


def test_a_certificate_that_does_not_verify_sends_nothing_and_is_retried(
    tmp_path: Path, tls_smtp: TlsSmtp
) -> None:
    # No CA file: the system's trust store does not know the test server's certificate.
    settings = settings_for(
        tmp_path, tls_smtp.port, smtp_full_details=True, smtp_username=USER,
        smtp_password=PASSWORD,
    )  # fmt: skip
    a_request(settings)
    assert deliver_due(settings) == (0, 1)
    assert tls_smtp.sink.messages == [] and tls_smtp.logins == []
    [request] = recent_requests(settings.database_url)
    [notification] = request.notifications
    assert (notification.status, notification.last_error) == ("pending", "SSLCertVerificationError")


def test_a_refused_login_sends_nothing(tmp_path: Path, tls_smtp: TlsSmtp) -> None:
    settings = settings_for(
        tmp_path, tls_smtp.port, smtp_full_details=True, smtp_username=USER,
        smtp_password="wrong", smtp_ca_file=str(tls_smtp.ca_file),
    )  # fmt: skip
    a_request(settings)
    assert deliver_due(settings) == (0, 1)
    assert tls_smtp.sink.messages == []
