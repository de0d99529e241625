"""Every side effect of an erasure: connector calls and ledger writes.

Activities are methods of classes whose dependencies (ledger, configured connectors) come in
through ``__init__``; ``worker.py`` builds them. Workflows refer to them, never the reverse.
"""

from .alerts import (
    Alert,
    AlertChannel,
    Alerter,
    AlertUndelivered,
    ConsoleAlerts,
    MailAlerts,
    WebhookAlerts,
)
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
from .manual_tasks import (
    MANUAL_TASK_EVENTS,
    ManualAnswerRecord,
    ManualTaskActivities,
    ManualTaskEscalation,
    ManualTaskOpened,
    TaskAnswer,
    manual_systems,
)
from .planning import PlanningActivities
from .progress import Holdup, ProgressActivities, StallQuery, StallReport, holdups
from .recording import RecordingActivities
from .referral import ReferralActivities
from .refusals import RefusalActivities, RefusedSignal
from .registry import activity_methods, is_activity
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
    ProcessorOverdue,
    RequestAnswer,
    StatusChange,
    SystemFailure,
    SystemOutcome,
    SystemTask,
    Verification,
    system_activity_id,
    system_of_activity_id,
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
    "MANUAL_TASK_EVENTS",
    "AcknowledgementNotice",
    "AcknowledgementOrder",
    "AcknowledgementOutcome",
    "Alert",
    "AlertChannel",
    "AlertUndelivered",
    "Alerter",
    "AssertionEvidence",
    "CodeAttempt",
    "CodeChallenge",
    "CodeResend",
    "CodeSent",
    "CodeVerdict",
    "ConsoleAlerts",
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
    "Holdup",
    "InstructionRecord",
    "MailAlerts",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "ManualAnswerRecord",
    "ManualTaskActivities",
    "ManualTaskEscalation",
    "ManualTaskOpened",
    "PlanInput",
    "PlanningActivities",
    "ProcessorOverdue",
    "ProgressActivities",
    "RecordingActivities",
    "ReferralActivities",
    "ReferralEscalation",
    "ReferralOpened",
    "ReferralTask",
    "RefusalActivities",
    "RefusedSignal",
    "RequestAnswer",
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
    "StallQuery",
    "StallReport",
    "StatusChange",
    "SystemFailure",
    "SystemOutcome",
    "SystemPlan",
    "SystemTask",
    "TaskAnswer",
    "Verification",
    "VerificationActivities",
    "WebhookAlerts",
    "activity_methods",
    "entry_from_outcome",
    "holdups",
    "is_activity",
    "manual_systems",
    "outcome_from_record",
    "system_activity_id",
    "system_of_activity_id",
]
