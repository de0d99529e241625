"""The pages ``lethe serve`` shows people: a requester's page, the operators' and auditors'
dashboard, and certificates. Plain HTML forms, rendered on the server from Jinja2 templates
(``lethe/templates/web/``, autoescaped); no JavaScript, nothing to build.

Nothing secret or personal goes into a URL: the requester's request number, status code and
emailed code are posted in a form body; the dashboard's token is posted once and kept in an
HttpOnly, SameSite=Strict cookie. Each page calls the operation the API and the command line
call (``lethe/operations/``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ledger.api_clients import ApiClients
from vocabulary import UNVERIFIED_STATUSES, RequestStatus, VerificationMethod, stamp_when

from ..errors import LetheError, UnreachableError
from ..runtime import Runtime
from ..settings import Settings
from .guards import RateLimiter

__all__ = ["add_pages"]

COOKIE = "lethe_dashboard"
#: The dashboard lists retained exceptions that end or are due for review this soon.
EXPIRING_DAYS = 30
#: Pages run no script and load nothing from elsewhere; forms post only here; no framing.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value is not None else ""


def add_pages(
    app: FastAPI,
    settings: Settings,
    limiter: RateLimiter,
    requester_view: Callable[[Runtime, str], Any],
) -> None:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("lethe", "templates/web"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    organisation = settings.issuer.organisation

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("error", None)
        context.setdefault("notice", None)
        body = env.get_template(name).render(organisation=organisation, **context)
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    async def form(request: Request) -> dict[str, str]:
        raw = (await request.body()).decode("utf-8", errors="replace")
        return {k: v[0].strip() for k, v in parse_qs(raw, max_num_fields=20).items()}

    def rt_of(request: Request) -> Runtime:
        rt: Runtime = request.app.state.rt
        return rt

    # -- the API's documentation ---------------------------------------------------------------

    def schema_type(spec: Any) -> str:
        """A JSON Schema fragment in a few words: ``string``, ``array of string``, a name."""
        if not isinstance(spec, dict):
            return ""
        if "$ref" in spec:
            return str(spec["$ref"]).rsplit("/", 1)[-1]
        for combined in ("anyOf", "oneOf", "allOf"):
            if combined in spec:
                kinds = [schema_type(s) for s in spec[combined]]
                return " or ".join(k for k in kinds if k and k != "null") + (
                    " (or null)" if "null" in kinds else ""
                )
        kind = spec.get("type", "")
        if kind == "array":
            return f"array of {schema_type(spec.get('items', {}))}"
        if "enum" in spec:
            return " | ".join(str(v) for v in spec["enum"])
        if spec.get("format"):
            return f"{kind} ({spec['format']})"
        return str(kind)

    env.filters["schema_type"] = schema_type

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        """The API described from its OpenAPI document on a page of our own: no Swagger UI,
        nothing fetched from a CDN (nothing leaves the server, and it works offline)."""
        doc = app.openapi()
        groups: dict[str, list[dict[str, Any]]] = {}
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                body = (
                    op.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                    .get("$ref", "")
                )
                groups.setdefault((op.get("tags") or ["other"])[0], []).append(
                    {
                        "id": op.get("operationId", ""),
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary", ""),
                        "parameters": op.get("parameters", []),
                        "body": body.rsplit("/", 1)[-1] if body else "",
                    }
                )
        schemas = sorted(doc.get("components", {}).get("schemas", {}).items())
        return page(
            "api-docs.html.j2",
            title="HTTP API",
            doc=doc,
            groups=list(groups.items()),
            schemas=schemas,
        )

    # -- the requester -------------------------------------------------------------------------

    async def shown(rt: Runtime, request_id: str) -> dict[str, Any]:
        view = dict(await requester_view(rt, request_id))
        outcomes = view.get("outcomes") or {}
        words = {
            "erased": "erased",
            "not_found": "held nothing",
            "retained": "kept under a legal basis",
            "failed": "failed, retried",
            "referred": "referred to their controller",
            "not_searched": "not searched in full",
        }
        view["outcomes_text"] = ", ".join(
            f"{n} {words.get(k, k.replace('_', ' '))}" for k, n in sorted(outcomes.items())
        )
        done = view.get("completed_at")
        view["completed_on"] = stamp_when(done.replace("+00:00", "Z")) if done else ""
        return view

    async def requester_page(
        request: Request, fields: dict[str, str], *, notice: str | None = None, code: bool = False
    ) -> HTMLResponse:
        rid, token = fields.get("request_id", ""), fields.get("status_token", "")
        address = request.client.host if request.client is not None else "unknown"
        if not rid or not token:
            return page(
                "requester.html.j2",
                400,
                title="Your request",
                view=None,
                error="Enter the request number and the status code.",
            )
        if not limiter.allow(f"request:{rid}", f"address:{address}"):
            return page(
                "requester.html.j2",
                429,
                title="Your request",
                view=None,
                error="Too many tries: wait a minute and try again.",
            )
        rt = rt_of(request)
        if not await ApiClients(rt.ledger).access_allowed(rid, token):
            return page(
                "requester.html.j2",
                404,
                title="Your request",
                view=None,
                error="No request opens with this number and status code.",
            )
        error = None
        if code:
            from ..operations.identity import check_code

            try:
                check = await check_code(rt, rid, fields.get("code", ""), "", actor="requester:web")
            except LetheError as exc:
                error = str(exc).split(": code refused: ", 1)[-1]
            else:
                if check.accepted:
                    notice = "Thank you: the code is right. Your data is being erased."
                else:
                    error = f"That code was not accepted: {check.message}."
        view = await shown(rt, rid)
        return page(
            "requester.html.j2",
            400 if error else 200,
            title="Your request",
            view=view,
            status_token=token,
            error=error,
            notice=notice,
        )

    @app.get("/request", include_in_schema=False)
    async def requester_form() -> HTMLResponse:
        return page("requester.html.j2", title="Your request", view=None)

    @app.post("/request", include_in_schema=False)
    async def requester_status(request: Request) -> HTMLResponse:
        return await requester_page(request, await form(request))

    @app.post("/request/code", include_in_schema=False)
    async def requester_code(request: Request) -> HTMLResponse:
        return await requester_page(request, await form(request), code=True)

    # -- operators and auditors ----------------------------------------------------------------

    async def holder(request: Request, token: str) -> tuple[Any, str | None]:
        """Who ``token`` names (an API client, or the ``[oidc]`` issuer's token holder) as
        ``(who, None)`` with ``who.name``, ``who.scopes``, ``who.actor``; or ``(None, why)``."""
        verifier = request.app.state.oidc
        if verifier is not None and not token.startswith("lethe_"):
            from ..oidc import TokenRefused

            try:
                found = await run_in_threadpool(verifier.verify, token)
            except (TokenRefused, UnreachableError) as exc:
                return None, str(exc)
            return SimpleNamespace(
                name=found.actor, label=found.actor, scopes=found.scopes, actor=found.actor
            ), None
        row = await ApiClients(rt_of(request).ledger).authenticate(token)
        if row is None:
            return None, "This token is not known or was revoked."
        return SimpleNamespace(
            name=row.name,
            label=f"API client {row.name}",
            scopes=tuple(row.scopes),
            actor=f"api:{row.name}",
        ), None

    async def signed_in(request: Request) -> Any:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        who, _ = await holder(request, token)
        if who is None or not {"operate", "audit"} & set(who.scopes):
            return None
        return who

    def to_login() -> Response:
        return RedirectResponse("/dashboard/login", status_code=303)

    @app.get("/dashboard/login", include_in_schema=False)
    async def login_form() -> HTMLResponse:
        return page("login.html.j2", title="Sign in")

    @app.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        token = (await form(request)).get("token", "")
        who, why = await holder(request, token) if token else (None, "Enter a token.")
        if who is None:
            return page("login.html.j2", 401, title="Sign in", error=why)
        if not {"operate", "audit"} & set(who.scopes):
            return page(
                "login.html.j2",
                403,
                title="Sign in",
                error=f"{who.label} has neither the 'operate' nor the 'audit' scope.",
            )
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/dashboard")
        return response

    @app.post("/dashboard/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(COOKIE, path="/dashboard")
        return response

    def row_of(r: Any) -> dict[str, str]:
        return {
            "request_id": r.request_id,
            "status": r.status,
            "received": _when(r.received_at),
            "due": _when(r.due_at),
            "systems": ", ".join(r.systems),
        }

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login()
        from ..operations.requests import find_requests

        rt = rt_of(request)
        sections = []
        for title, query in (
            ("Overdue", {"overdue": True}),
            ("Due within 7 days", {"due_within": timedelta(days=7)}),
            ("Escalated", {"status": RequestStatus.ESCALATED}),
            ("Awaiting verification", {"status": RequestStatus.AWAITING_VERIFICATION}),
            ("Received, not yet acknowledged", {"status": RequestStatus.RECEIVED}),
        ):
            found = await find_requests(rt, limit=50, **query)
            sections.append({"title": title, "requests": [row_of(r) for r in found.requests]})
        return page(
            "dashboard.html.j2",
            title="Dashboard",
            who=who,
            sections=sections,
            expiring=await expiring_exceptions(rt, days=EXPIRING_DAYS),
            expiring_days=EXPIRING_DAYS,
        )

    async def expiring_exceptions(rt: Runtime, *, days: int) -> list[dict[str, str]]:
        """Open retained exceptions whose end (or review) date falls within ``days``: the
        data someone must erase or look at again soon, soonest first."""
        from ledger.queries import AuditFilter

        from ..operations.request_record import select_requests

        before = datetime.now(UTC).date() + timedelta(days=days)
        found = await select_requests(rt, AuditFilter(exceptions_expiring_before=before), limit=50)
        rows = []
        for r in found.requests:
            for e in await rt.ledger.exceptions(r.request_id):
                day = e.retained_until or e.review_on
                if e.state != "open" or day is None or day >= before:
                    continue
                rows.append(
                    {
                        "request_id": r.request_id,
                        "system": e.system,
                        "legal_basis": e.legal_basis,
                        "until": str(e.retained_until) if e.retained_until else "",
                        "review": str(e.review_on) if e.review_on else "",
                        "day": str(day),
                    }
                )
        return sorted(rows, key=lambda x: (x["day"], x["request_id"], x["system"]))

    @app.get("/dashboard/export.{kind}", include_in_schema=False)
    async def export(kind: str, request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login()
        from .export import export_rows, rows_to_csv

        if kind not in ("csv", "json"):
            return page(
                "dashboard.html.j2",
                404,
                title="Dashboard",
                who=who,
                sections=[],
                error="Export as export.csv or export.json.",
            )
        rows = await export_rows(rt_of(request), status=None, limit=10000)
        name = f'attachment; filename="lethe-requests.{kind}"'
        if kind == "csv":
            return Response(
                rows_to_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={**HEADERS, "Content-Disposition": name},
            )
        return JSONResponse({"requests": rows}, headers={**HEADERS, "Content-Disposition": name})

    async def request_page(
        request: Request,
        who: Any,
        request_id: str,
        *,
        status: int = 200,
        error: str | None = None,
        notice: str | None = None,
    ) -> HTMLResponse:
        from ..certificates import STATUS_LABELS
        from ..operations.requests import request_view

        view = await request_view(rt_of(request), request_id)
        rec = view.request
        systems = [
            {
                "system": o.system,
                "outcome": o.outcome,
                "counts": ", ".join(f"{k} {v}" for k, v in sorted((o.counts or {}).items())),
                "kept": ", ".join(f"{k} {v}" for k, v in sorted((o.retained_counts or {}).items())),
                "until": " ".join(
                    x
                    for x in (
                        str(o.retained_until) if o.retained_until else "",
                        o.legal_basis or "",
                    )
                    if x
                ),
            }
            for o in view.outcomes
        ]
        can_approve = (
            "operate" in who.scopes
            and rec.status in UNVERIFIED_STATUSES
            and rec.verification_method == VerificationMethod.OPERATOR
            and rec.completed_at is None
        )
        return page(
            "request.html.j2",
            status,
            title=rec.request_id,
            who=who,
            error=error,
            notice=notice,
            r={
                "request_id": rec.request_id,
                "status": rec.status,
                "status_label": STATUS_LABELS.get(rec.status, rec.status),
                "jurisdiction": rec.jurisdiction.upper(),
                "received": _when(rec.received_at),
                "channel": rec.channel,
                "method": rec.verification_method,
                "verified": _when(rec.verified_at),
                "due": _when(rec.due_at),
                "completed": _when(rec.completed_at),
                "systems": ", ".join(rec.systems),
            },
            systems=systems,
            events=[{"at": _when(e.at), "kind": e.kind, "actor": e.actor} for e in view.events],
            next_steps=view.next_steps,
            can_approve=can_approve,
            certificate=view.sealed,
        )

    @app.get("/dashboard/requests/{request_id}", include_in_schema=False)
    async def one_request(request_id: str, request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login()
        try:
            return await request_page(request, who, request_id)
        except LetheError as exc:
            return page(
                "dashboard.html.j2", 404, title="Dashboard", who=who, sections=[], error=str(exc)
            )

    @app.post("/dashboard/requests/{request_id}/approve", include_in_schema=False)
    async def approve(request_id: str, request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login()
        from ..operations.identity import approve_identity

        reason = (await form(request)).get("reason", "")
        if "operate" not in who.scopes:
            return await request_page(
                request,
                who,
                request_id,
                status=403,
                error=f"{who.label} may only read (scope audit).",
            )
        if not reason:
            return await request_page(
                request, who, request_id, status=400, error="Say how the identity was confirmed."
            )
        try:
            done = await approve_identity(rt_of(request), request_id, reason[:500], who.actor)
        except LetheError as exc:
            return await request_page(request, who, request_id, status=400, error=str(exc))
        return await request_page(
            request,
            who,
            request_id,
            notice=f"Approved as {done.approved_by}; erasure starts now.",
        )

    @app.get("/dashboard/requests/{request_id}/certificate", include_in_schema=False)
    async def certificate(request_id: str, request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login()
        from ..certificates import render_html
        from ..operations.request_record import issue_certificate

        try:
            issued = await issue_certificate(rt_of(request), request_id)
        except LetheError as exc:
            return page(
                "dashboard.html.j2", 404, title="Dashboard", who=who, sections=[], error=str(exc)
            )
        issuer = {"organisation": settings.issuer.organisation, "contact": settings.issuer.contact}
        return HTMLResponse(render_html(issued.certificate, issuer=issuer), headers=HEADERS)
