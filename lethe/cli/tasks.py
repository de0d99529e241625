"""``lethe task``: the work a person does for a system no API reaches (``manual`` systems).

    lethe task list                                 every task waiting, soonest due first
    lethe task show REQUEST --system S [--reveal]   the task: instructions, assignee, due;
                                                    --reveal adds who the person is (from the
                                                    vault, to this terminal only)
    lethe task done REQUEST --system S --evidence '…'
    lethe task retain REQUEST --system S --basis CODE --until DATE|--review-on DATE
                      --reason '…'

The answer goes to the workflow waiting on the task: ``done`` records the system ``erased``,
``retain`` records ``retained`` under the basis and date. What is typed is kept without the
person's identifiers (``lethe/free_text.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..errors import LetheError
from ..operations.manual_tasks import OpenTask, TaskOrder, answer_task, open_task, open_tasks
from ._app import app, call, console, emit_json, json_option, look
from ._values import legal_basis, note_rewritten, one_date, operator_name, reason_text

__all__ = ["task"]


@app.group("task")
def task() -> None:
    """Manual tasks: show one, record it done, or record why the data is kept."""


def _say(found: OpenTask) -> None:
    late = " (OVERDUE)" if found.overdue else ""
    console.print(f"{found.system} of {found.request_id}, round {found.round}{late}")
    console.print(f"  for:   {found.assignee}")
    console.print(f"  due:   {found.due_at[:16].replace('T', ' ')} UTC")
    console.print(f"  do:    {found.instructions}")
    if found.identifiers is not None:
        for kind, value in sorted(found.identifiers.items()):
            console.print(f"  {kind}: {value}")


@task.command("list")
@json_option
def list_tasks(as_json: bool) -> None:
    """Every manual task waiting for its answer, soonest due first."""
    found = look(open_tasks)
    if as_json:
        emit_json([t.to_dict() for t in found])
        return
    if not found:
        console.print("No manual task is waiting.")
    for t in found:
        _say(t)


@task.command("show")
@click.argument("request_id")
@click.option("--system", required=True, help="The manual system.")
@click.option("--reveal", is_flag=True, help="Also show who the person is (from the vault).")
@json_option
def show(request_id: str, system: str, reveal: bool, as_json: bool) -> None:
    """Show the task a manual system waits on."""
    found = look(open_task, request_id.strip(), system.strip(), reveal=reveal)
    if as_json:
        emit_json(found.to_dict())
    else:
        _say(found)


@task.command("done")
@click.argument("request_id")
@click.option("--system", required=True, help="The manual system.")
@click.option("--evidence", required=True, help="What was done, and where it is recorded.")
@click.option("--operator", help="Who did it (default: LETHE_OPERATOR or your login).")
@json_option
def done(request_id: str, system: str, evidence: str, operator: str | None, as_json: bool) -> None:
    """Record a manual task done: the system is erased."""
    text = _evidence(evidence, "--evidence", "what was done")
    order = TaskOrder("done", text, operator_name(operator))
    found = call(answer_task, request_id.strip(), system.strip(), order, rewritten=note_rewritten)
    if as_json:
        emit_json({**found.to_dict(), "answer": "done"})
    else:
        console.print(f"{found.system} of {found.request_id}: done, recorded as erased.")


@task.command("retain")
@click.argument("request_id")
@click.option("--system", required=True, help="The manual system.")
@click.option("--basis", required=True, help="The legal basis code for keeping the data.")
@click.option("--until", help="Kept until this date.")
@click.option("--review-on", help="Indefinite, reviewed on this date.")
@click.option("--reason", required=True, help="Why it is kept, and where that is recorded.")
@click.option("--operator", help="Who decided (default: LETHE_OPERATOR or your login).")
@json_option
def retain(
    request_id: str,
    system: str,
    basis: str,
    until: str | None,
    review_on: str | None,
    reason: str,
    operator: str | None,
    as_json: bool,
) -> None:
    """Record a manual task's data kept under a legal basis: the system is retained."""
    code = legal_basis(basis)
    kept, review = one_date(until, review_on, today=datetime.now(UTC).date())
    if kept is None and review is None:
        raise LetheError("task retain needs --until DATE or --review-on DATE")
    text = reason_text(reason, "why the data is kept")
    order = TaskOrder(
        "retain",
        text,
        operator_name(operator),
        legal_basis=code,
        retained_until=kept,
        review_on=review,
    )
    found = call(answer_task, request_id.strip(), system.strip(), order, rewritten=note_rewritten)
    if as_json:
        emit_json({**found.to_dict(), "answer": "retain", "legal_basis": code})
    else:
        when = f"until {kept}" if kept else f"indefinite, review {review}"
        console.print(f"{found.system} of {found.request_id}: retained under {code}, {when}.")


def _evidence(text: str, option: str, what: str) -> str:
    kept = text.strip()
    if not kept:
        raise LetheError(f"{option} must say {what}")
    if len(kept) > 500:
        raise LetheError(f"{option} is at most 500 characters: give a reference, not the file")
    return kept
