"""What operators and auditors do to the record, for every front door.

A front door (the command line, the HTTP API to come) parses what it is given, calls one of
these, and shows what comes back; the rules of what may be done, and why not, live here and
below (the ledger for what the record says, activities and workflows for what needs the
systems or Temporal), not in the door. Each operation takes what it needs (a ``Runtime``, a
``Reader`` for auditors) first, and raises a ``LetheError`` whose text is the one line an
operator reads.

    requests           receive a request, where it stands and what it waits for, list, cancel
    clock              extend the answer deadline once; acknowledge receipt by other means
    identity           the requester's emailed code, checked; a new one mailed; an operator's
                       approval
    referrals          a controller's instruction for a referred system, handed to its workflow
    later_rounds       retry a system, replay a restored backup, sweep now
    holds              place and release legal holds
    request_record     one request's record for an auditor, a selection, a certificate
    ccpa_export        the request records CCPA §7101 asks to keep, one row per request
    log_verification   the whole proof log and earlier certificates against it (superseded)
    connector_checks   which connectors are installed; whether each configured system answers
    lookups            a request by its id; systems among those known
    workflow_calls     an update to a request's workflow, and its refusal
    terms              a decision's legal basis, dates and reason, checked for every door
"""
