"""Mail to the requester: verification codes and receipt acknowledgements.

    SmtpMailer     a real SMTP server (STARTTLS, implicit TLS, or plain on loopback)
    ConsoleMailer  prints each message instead of sending it, and says so (demo, ``lethe dev``)

Activities take any ``Mailer``. Failures are ``MailUnavailable`` (try again later) or
``MailRejected`` (the server refused the message or the recipient: retrying will not help).
The recipient's address only ever exists inside the activity that sends the message.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal, Protocol

__all__ = [
    "ConsoleMailer",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "SmtpConfig",
    "SmtpMailer",
]


class MailUnavailable(Exception):
    """The mail server could not be reached or failed for now; a later try may work."""


class MailRejected(Exception):
    """The mail server refused the message for good (bad recipient, policy)."""


class Mailer(Protocol):
    """Something that delivers a message, or raises MailUnavailable / MailRejected."""

    sender: str

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    sender: str = "privacy@localhost"
    #: ``starttls`` (upgrade on 587), ``tls`` (implicit TLS on 465) or ``none`` (loopback only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


class SmtpMailer:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.sender = config.sender

    def _send_blocking(self, message: EmailMessage) -> None:
        c = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if c.security == "tls":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        with smtp:
            if c.security == "starttls":
                smtp.starttls(context=context)
            if c.username:
                smtp.login(c.username, c.password or "")
            smtp.send_message(message)

    async def send(self, message: EmailMessage) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise MailRejected(
                f"the mail server refused the message ({type(exc).__name__})"
            ) from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise MailRejected(
                    f"the mail server refused the message ({exc.smtp_code})"
                ) from None
            raise MailUnavailable(f"the mail server answered {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(
                f"cannot reach the mail server {self.config.host}:{self.config.port}"
                f" ({type(exc).__name__})"
            ) from None


class ConsoleMailer:
    """Prints messages instead of sending them: for the demo and ``lethe dev`` only.

    The printout holds the recipient's address and any code: never use it in production.
    ``outbox`` keeps what was "sent", so the demo can read its own mail.
    """

    def __init__(
        self, write: Callable[[str], None] | None = None, sender: str = "privacy@localhost"
    ) -> None:
        self._write = write or (lambda text: print(text, file=sys.stderr, flush=True))
        self.sender = sender
        self.outbox: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.outbox.append(message)
        body = message.get_content() if not message.is_multipart() else "(multipart)"
        self._write(
            "── console mailer: this message was NOT sent, only printed here ──\n"
            f"To: {message['To']}\nSubject: {message['Subject']}\n\n{body.rstrip()}\n"
            "──────────────────────────────────────────────────────────────────"
        )
