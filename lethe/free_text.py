"""Free text typed by people, made safe to keep: reasons and operator names.

An operator types ``--reason "called ada@example.org back, Ada confirmed"``. What they type is
kept for years: in the ledger's events and status reasons, in holds, referrals and rounds,
in the Temporal history of the signal or update that carried it, and (before this module) in
the basis note of a retained outcome, which is sealed into the append-only proof log. So the
text is scrubbed *where it enters Lethe*, before it is sent to a workflow or written anywhere:
every operation that takes a reason or an operator name (``lethe/operations/``, the command
line's ``approve`` and ``controller-instruction``) keeps them through :meth:`PersonText.kept`,
and a new entry point (an HTTP API, say) calls those operations or this module too.

What is replaced in a reason:
    every identifier Lethe holds for the person, from the subject vault of the request, of
    every other request of the same pseudonym that is not shredded yet, and an address the
    operator gave (``hold add --subject``): in any case, URL-encoded or JSON-escaped, and
    each word of their name, on its own (``connectors.redact``);
    anything shaped like an email address, anyone's;
    anything shaped like an international phone number (``+`` and 7 to 15 digits).
This is ``connectors.redact``, the scrubber the activities use on what systems send back (and
on reasons that reach them through a workflow): one implementation, so both sides remove the
same things.
In an operator name only the person's identifiers are replaced: an operator may sign with
their own work address, and who decided is the accountability the record exists for (it is
kept in the ledger's events and shown in certificates, never in a receipt: the proof log holds
only a salted commitment to it).

What cannot be found: a name or a detail Lethe never held (the requester's new address, a
relative's name), and anything at all once the request's identifiers are shredded (then only
the shapes above are caught). Hence the help of every ``--reason``: a reference (a ticket, a
case number), not a story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connectors import Subject, redact
from ledger import Ledger, LedgerError

__all__ = ["PersonText", "Rewritten"]

#: Told when what an operator typed is not what Lethe keeps: which text (``"reason"`` or
#: ``"operator"``) and the text kept instead, so that the operator knows what the record holds.
Rewritten = Callable[[str, str], None]

#: How many of a person's requests are read for identifiers (newest first).
_MAX_REQUESTS = 50


@dataclass(frozen=True)
class PersonText:
    """What Lethe still knows of one person, to scrub what an operator typed about them."""

    people: tuple[Subject, ...] = ()

    @classmethod
    async def for_request(cls, ledger: Ledger, request_id: str) -> PersonText:
        """The person of ``request_id`` (nobody, if there is no such request)."""
        rec = await ledger.get_request(request_id)
        if rec is None:
            return cls()
        return await cls.for_pseudonym(ledger, rec.subject_ref)

    @classmethod
    async def for_pseudonym(
        cls, ledger: Ledger, subject_ref: str, *, email: str | None = None
    ) -> PersonText:
        """The person behind ``subject_ref``: the identifiers of each of their requests whose
        vault is still readable, and ``email`` if the operator gave it."""
        people = [Subject(ref=subject_ref, email=email)] if email else []
        for rec in await ledger.list_requests(subject_ref=subject_ref, limit=_MAX_REQUESTS):
            try:
                ref, ids = await ledger.read_identifiers(rec.request_id)
            except LedgerError:
                continue  # shredded (or sealed under another key): nothing left to know
            address = ids.pop("email", "")
            people.append(Subject(ref=ref, email=address, identifiers=ids))
        return cls(tuple(people))

    def _without_person(self, text: str) -> str:
        for person in self.people:
            text = redact(text, person, any_address=False)
        return text

    def reason(self, text: str) -> str:
        """``text`` without the person's identifiers, any address or phone number."""
        return redact(self._without_person(text.strip()))

    def operator(self, name: str) -> str:
        """An operator's name without the person's identifiers (their own address stays)."""
        return self._without_person(name.strip())

    def kept(
        self, reason: str, operator: str, *, limit: int = 500, rewritten: Rewritten | None = None
    ) -> tuple[str, str]:
        """A reason and an operator's name as Lethe keeps them (at most ``limit`` and 100
        characters); ``rewritten`` hears of each that is not kept as typed."""
        kept_reason = self.reason(reason)[:limit]
        kept_operator = self.operator(operator)[:100]
        if rewritten is not None:
            for what, typed, kept in (
                ("reason", reason, kept_reason),
                ("operator", operator, kept_operator),
            ):
                if typed.strip() != kept:
                    rewritten(what, kept)
        return kept_reason, kept_operator
