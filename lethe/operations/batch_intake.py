"""Many erasure requests received in one go (``lethe submit --from FILE``): each recorded and
started exactly as one request is (:func:`lethe.operations.requests.receive_request`), through
one runtime and one Temporal connection.

Before anything is written every line is checked, as far as it can be without writing: its
fields (by the caller, ``lethe.intake.validate_request``), the same person twice in the file,
a person who already has an open request in the ledger. Then:

    all or nothing (default)   a line refused: nothing is submitted, every refusal is
                               reported; a line that fails when written (Temporal
                               unreachable, a request filed meanwhile): it is undone like a
                               single submit, and the lines after it are not submitted
    keep_going                 the good lines are submitted, each refused or failed line
                               reported

A line is never half-written: ``lethe.intake.submit_request`` withdraws what it wrote for a
request whose workflow does not start. Messages name lines, fields and request ids, never
the person's identifiers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import LetheError
from ..intake import RequestDraft
from ..pseudonym import Pseudonymizer
from ..runtime import Runtime
from .requests import Received, receive_request

__all__ = ["BatchLine", "BatchOutcome", "LineResult", "receive_batch"]


@dataclass(frozen=True)
class BatchLine:
    """A line of the file: a validated draft, or why it was refused before (``refused``)."""

    number: int
    draft: RequestDraft | None
    refused: str | None = None
    refused_code: int = 1  # the exit code of what refused it (78: a setting)
    channel: str = "cli"
    #: The operator who enters a request received earlier (``draft.received_at``).
    entered_by: str | None = None


@dataclass(frozen=True)
class LineResult:
    """What became of one line: ``received``, or ``error`` (refused, or failed when written),
    or neither (``not_submitted`` says why: another line stopped the batch)."""

    number: int
    received: Received | None = None
    error: str | None = None
    exit_code: int = 0
    not_submitted: str | None = None


@dataclass(frozen=True)
class BatchOutcome:
    received: int
    failed: list[int]  # line numbers refused or failed
    not_submitted: int
    exit_code: int  # 0, or that of the first line that failed
    #: The line that failed when written and stopped the batch (not ``keep_going``).
    stopped_by: int | None = None


async def receive_batch(
    rt: Runtime,
    lines: Sequence[BatchLine],
    *,
    keep_going: bool,
    allow_duplicate: bool,
    report: Callable[[LineResult], None],
    actor: str = "cli",
) -> BatchOutcome:
    """Receive every good line (see the module's docstring), calling ``report`` once per line,
    in order, as each is settled."""
    refusals = await _refusals(rt, lines, allow_duplicate=allow_duplicate)
    results: list[LineResult] = []

    def settle(result: LineResult) -> None:
        results.append(result)
        report(result)

    stopped: str | None = None
    stopped_by: int | None = None
    if refusals and not keep_going:
        stopped = (
            f"not submitted: {len(refusals)} line(s) of the file refused"
            " (--keep-going submits the others)"
        )
    for line in lines:
        if line.number in refusals:
            why, code = refusals[line.number]
            settle(LineResult(line.number, error=why, exit_code=code))
            continue
        if stopped is not None:
            settle(LineResult(line.number, not_submitted=stopped))
            continue
        assert line.draft is not None
        try:
            received = await receive_request(
                rt,
                line.draft,
                allow_duplicate=allow_duplicate,
                channel=line.channel,
                entered_by=line.entered_by,
                actor=actor,
            )
        except LetheError as exc:
            settle(LineResult(line.number, error=str(exc), exit_code=exc.exit_code))
            if not keep_going:
                stopped = f"not submitted: line {line.number} failed and stopped the batch"
                stopped_by = line.number
            continue
        settle(LineResult(line.number, received=received))
    failed = [r for r in results if r.error is not None]
    return BatchOutcome(
        received=sum(r.received is not None for r in results),
        failed=[r.number for r in failed],
        not_submitted=sum(r.not_submitted is not None for r in results),
        exit_code=failed[0].exit_code if failed else 0,
        stopped_by=stopped_by,
    )


async def _refusals(
    rt: Runtime, lines: Sequence[BatchLine], *, allow_duplicate: bool
) -> dict[int, tuple[str, int]]:
    """Line number → (why, exit code) for every line that cannot be submitted, found without
    writing: refused by the caller, the same person as an earlier line, or a person whose
    open request the ledger holds (one open request per person, unless ``allow_duplicate``)."""
    refused = {n.number: (n.refused, n.refused_code) for n in lines if n.refused is not None}
    if allow_duplicate:
        return refused
    pseudonyms = Pseudonymizer(rt.keys.pseudonym)
    first_of: dict[str, int] = {}
    for line in lines:
        if line.draft is None:
            continue
        ref = pseudonyms.subject_ref(line.draft.email)
        if ref in first_of:
            refused[line.number] = (
                f"the same person as line {first_of[ref]}: one open request per person"
                " (--allow-duplicate files both)",
                1,
            )
            continue
        first_of[ref] = line.number
        holder = await rt.ledger.open_request_of(ref)
        if holder is not None:
            refused[line.number] = (
                f"this person already has an open request {holder.request_id}"
                f" ({holder.status}); pass --allow-duplicate to file another",
                1,
            )
    return refused
