"""Traces with OpenTelemetry: Temporal's ``TracingInterceptor`` on every client Lethe connects
(and so on the worker that client runs), its spans exported by OTLP over HTTP.

Tracing is on when the standard variables ask for it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set (the exporter reads the rest itself:
``OTEL_EXPORTER_OTLP_HEADERS``, ``…_TIMEOUT``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``…), unless ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``. It needs the ``otel`` extra; asked for without it, the command
stops in one line naming the extra.

Spans name workflows and activities and carry Temporal's workflow and run ids, which hold a
request id and never a person's data (``workflows.ids``); each span whose workflow belongs to a
request also carries ``lethe.request_id``. ``tests/test_tracing.py`` checks that no identifier
reaches a span of a real request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from .errors import ConfigError

__all__ = ["REQUEST_ID_ATTRIBUTE", "client_interceptors", "flush", "tracing_requested"]

#: The span attribute naming the request a span belongs to.
REQUEST_ID_ATTRIBUTE = "lethe.request_id"

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_INTERCEPTORS: list[Any] | None = None
_PROVIDER: Any = None


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return any(env.get(name, "").strip() for name in _ENDPOINTS)


def client_interceptors() -> list[Any]:
    """The interceptors of every Temporal client of this process: none, or (when the
    ``OTEL_*`` variables ask for traces) the tracing one, its exporter set up once."""
    global _INTERCEPTORS
    if _INTERCEPTORS is None:
        _INTERCEPTORS = [_tracing_interceptor()] if tracing_requested() else []
    return list(_INTERCEPTORS)


#: How long a leaving ``lethe`` waits for its last spans to be exported: a collector that is
#: down costs a command this much at most, never its retries' whole backoff.
FLUSH_SECONDS = 3.0


def flush() -> None:
    """Export the spans still buffered, and stop exporting: the ``lethe`` program calls it
    before it leaves (it leaves with ``os._exit``, past the SDK's own exit hook). Waits
    :data:`FLUSH_SECONDS` at most; what is not exported by then is lost."""
    global _PROVIDER
    if _PROVIDER is not None:
        provider, _PROVIDER = _PROVIDER, None
        done = threading.Thread(target=provider.shutdown, name="otel-flush", daemon=True)
        done.start()
        done.join(FLUSH_SECONDS)


def _tracing_interceptor() -> Any:
    global _PROVIDER
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT asks for traces, which need the otel extra:"
            " pip install 'lethe-erasure[otel]' (or unset the OTEL_* variables)"
        ) from None

    resource = Resource.create({"service.name": "lethe"}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)  # OTEL_SERVICE_NAME overrides "lethe"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _PROVIDER = provider  # flushed at exit (``flush``, and the SDK's atexit)

    class _RequestIdTracer:
        """Adds ``lethe.request_id`` to the spans Temporal's interceptor starts, from the
        workflow id they carry (``erasure/ID…``)."""

        def __init__(self, tracer: Any) -> None:
            self._tracer = tracer

        def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
            kwargs["attributes"] = _with_request_id(kwargs.get("attributes"))
            return self._tracer.start_span(name, *args, **kwargs)

        def start_as_current_span(
            self, name: str, *args: Any, **kwargs: Any
        ) -> AbstractContextManager[Any]:
            kwargs["attributes"] = _with_request_id(kwargs.get("attributes"))
            return self._tracer.start_as_current_span(name, *args, **kwargs)  # type: ignore[no-any-return]

    return TracingInterceptor(
        _RequestIdTracer(trace.get_tracer("lethe")),  # type: ignore[arg-type]
        # Workflows started without a traced client (the sweeper's schedule, a CLI without
        # the variables) get spans too; after a replay on another worker they may be orphans.
        always_create_workflow_spans=True,
    )


def _with_request_id(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not attributes:
        return dict(attributes) if attributes is not None else None
    out = dict(attributes)
    wid = out.get("temporalWorkflowID")
    if isinstance(wid, str):
        from workflows.ids import request_id_of

        rid = request_id_of(wid)
        if rid != wid:
            out[REQUEST_ID_ATTRIBUTE] = rid
    return out
