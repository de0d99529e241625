"""The conformance kit: pytest base classes that prove a connector right before it meets
production. Adopt it in a few lines::

    from connectors.testing import ConformanceSuite, Harness

    class TestAcme(ConformanceSuite):
        kind = "acme"

        @pytest.fixture
        def harness(self, tmp_path) -> Harness:
            return AcmeHarness(tmp_path)     # build(**options), seed(people), snapshot()

The suite seeds a subject and look-alike bystanders, erases, and checks: the subject is
gone and every bystander's record is byte-identical (who is the subject is the matching policy
of ``connectors._matching``, not ``str.lower()``: a subject stored decomposed and capitalised is
found, capitals only Unicode folds and the KELVIN SIGN are someone else); the subject's address
with whitespace around it is left and reported by ``verify``; erasing again is a no-op that replays
what the first call did (``connectors.repeat_problem``), also from another instance of the
connector (another worker: the ``receipt_journal`` fixture is the one journal they share), and a
later round's key erases again instead; ``verify`` sees nothing left; ``plan`` matched the
erase; a subject behind ``crowd_size`` near-duplicates is still found (every page read); an
unknown subject and wildcard identifiers give ``NotFound``; a subject lacking an identifier
the configuration needs gives ``NotSearched`` (declare ``identifier_kinds``; a suite that
declares only the email leaves that test out); faults raise
``TransientError``/``PermanentError`` (when you provide ``transient_fault``/``permanent_fault``
fixtures; left out otherwise) and a rate limit passes its Retry-After on as ``retry_after``
(``rate_limit_fault``); an erase beyond ``max_items`` is refused and changes nothing; an async
connector's ticket can be polled by another instance, and again after it finished; and a
hypothesis property test shows that no generated look-alike (case variants, Unicode
confusables and compatibility characters, NFC/NFD spellings, whitespace, plus-tags, substrings
and superstrings) ever changes, and that ``verify`` is clean exactly when no whitespace
look-alike is left. Tests of capabilities the
connector does not claim are left out when tests are collected (the one gate:
``connectors.testing._gate``, applied by ``connectors.testing.plugin``, a pytest plugin
installed with Lethe), not failed and not skipped: a skip means "could not run here", never
"does not apply". Parts can be used alone (``EraseTests``,
``PlanTests``…), but a registered connector needs the whole ``ConformanceSuite``.

Needs pytest, pytest-asyncio (``asyncio_mode = "auto"``) and hypothesis.
"""

from ._harness import FaultInjector, Harness, RecordKey, Seeded, built_with, carries_trace
from ._people import (
    BYSTANDERS,
    HOSTILE,
    LOOKALIKES,
    SUBJECT,
    UNKNOWN,
    ZOE,
    ZOE_BYSTANDERS,
    Person,
    people,
)
from ._suite import (
    AsyncTests,
    BlastRadiusTests,
    BystanderPropertyTests,
    ConformanceSuite,
    ConnectorKit,
    EraseTests,
    FaultTests,
    IdentifierSafetyTests,
    MatchingPolicyTests,
    NotFoundTests,
    NotSearchedTests,
    PlanTests,
    RepeatTests,
    VerifyTests,
)

__all__ = [
    "BYSTANDERS",
    "HOSTILE",
    "LOOKALIKES",
    "SUBJECT",
    "UNKNOWN",
    "ZOE",
    "ZOE_BYSTANDERS",
    "AsyncTests",
    "BlastRadiusTests",
    "BystanderPropertyTests",
    "ConformanceSuite",
    "ConnectorKit",
    "EraseTests",
    "FaultInjector",
    "FaultTests",
    "Harness",
    "IdentifierSafetyTests",
    "MatchingPolicyTests",
    "NotFoundTests",
    "NotSearchedTests",
    "Person",
    "PlanTests",
    "RecordKey",
    "RepeatTests",
    "Seeded",
    "VerifyTests",
    "built_with",
    "carries_trace",
    "people",
]
