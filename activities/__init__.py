"""Every side effect of an erasure: connector calls and ledger writes.

Activities are methods of classes whose dependencies (ledger, configured connectors) come in
through ``__init__``; ``worker.py`` builds them. Workflows refer to them, never the reverse.
"""

from .deadlines import AcknowledgementNotice, DeadlineActivities, DeadlineEvent, ExtensionOrder
from .erasure import ErasureActivities, entry_from_outcome, outcome_from_record
from .mail import ConsoleMailer, Mailer, MailRejected, MailUnavailable, SmtpConfig, SmtpMailer
from .recording import RecordingActivities
from .types import (
    FINAL_OUTCOMES,
    StatusChange,
    SystemFailure,
    SystemOutcome,
    SystemTask,
    Verification,
)
from .verification import (
    AssertionEvidence,
    CodeAttempt,
    CodeChallenge,
    CodeSent,
    CodeVerdict,
    VerificationActivities,
)

__all__ = [
    "FINAL_OUTCOMES",
    "AcknowledgementNotice",
    "AssertionEvidence",
    "CodeAttempt",
    "CodeChallenge",
    "CodeSent",
    "CodeVerdict",
    "ConsoleMailer",
    "DeadlineActivities",
    "DeadlineEvent",
    "ErasureActivities",
    "ExtensionOrder",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "RecordingActivities",
    "SmtpConfig",
    "SmtpMailer",
    "StatusChange",
    "SystemFailure",
    "SystemOutcome",
    "SystemTask",
    "Verification",
    "VerificationActivities",
    "entry_from_outcome",
    "outcome_from_record",
]
