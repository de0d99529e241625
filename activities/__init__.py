"""Every side effect of an erasure: connector calls and ledger writes.

Activities are methods of classes whose dependencies (ledger, configured connectors) come in
through ``__init__``; ``worker.py`` builds them. Workflows refer to them, never the reverse.
"""

from .controller_webhook import ControllerEndpoint
from .deadlines import (
    AcknowledgementNotice,
    AcknowledgementOrder,
    AcknowledgementOutcome,
    DeadlineActivities,
    DeadlineEvent,
    ExtensionOrder,
)
from .erasure import ErasureActivities, entry_from_outcome, outcome_from_record
from .mail import ConsoleMailer, Mailer, MailRejected, MailUnavailable, SmtpConfig, SmtpMailer
from .planning import PlanningActivities
from .recording import RecordingActivities
from .referral import ReferralActivities
from .round_types import (
    DueQuery,
    DueRound,
    DueRounds,
    ErasurePlan,
    InstructionRecord,
    PlanInput,
    ReferralEscalation,
    ReferralOpened,
    ReferralTask,
    RoundClosed,
    RoundStatus,
    RoundTask,
    ShredQuery,
    ShredReport,
    SystemPlan,
)
from .rounds import RoundActivities
from .sealing import SealingActivities, SealResult
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
    CodeResend,
    CodeSent,
    CodeVerdict,
    VerificationActivities,
)

__all__ = [
    "FINAL_OUTCOMES",
    "AcknowledgementNotice",
    "AcknowledgementOrder",
    "AcknowledgementOutcome",
    "AssertionEvidence",
    "CodeAttempt",
    "CodeChallenge",
    "CodeResend",
    "CodeSent",
    "CodeVerdict",
    "ConsoleMailer",
    "ControllerEndpoint",
    "DeadlineActivities",
    "DeadlineEvent",
    "DueQuery",
    "DueRound",
    "DueRounds",
    "ErasureActivities",
    "ErasurePlan",
    "ExtensionOrder",
    "InstructionRecord",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "PlanInput",
    "PlanningActivities",
    "RecordingActivities",
    "ReferralActivities",
    "ReferralEscalation",
    "ReferralOpened",
    "ReferralTask",
    "RoundActivities",
    "RoundClosed",
    "RoundStatus",
    "RoundTask",
    "SealResult",
    "SealingActivities",
    "ShredQuery",
    "ShredReport",
    "SmtpConfig",
    "SmtpMailer",
    "StatusChange",
    "SystemFailure",
    "SystemOutcome",
    "SystemPlan",
    "SystemTask",
    "Verification",
    "VerificationActivities",
    "entry_from_outcome",
    "outcome_from_record",
]
