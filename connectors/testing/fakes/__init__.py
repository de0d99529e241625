"""Local fakes of hosted services, each held to a written contract (``contracts/*.yaml``, an
OpenAPI subset written from the vendor's documentation): small stateful Starlette apps on
127.0.0.1 and a free port (uvicorn in a thread, :func:`~.server.serve`), with real status
codes, error bodies, pagination, authentication failures and injectable 429/5xx faults
(``fake.fault(429, retry_after="30")``). Every request a fake receives, and every answer it
gives, is checked against its contract; a breach is recorded (``fake.violations``) and the
request answered 400, so a test that sent it fails.

They ship with the conformance kit so that a spec or connector for these services can be
tested without them, and so that ``lethe demo`` can erase from a hosted newsletter and forum.
Needs the ``test`` (or ``embedded``) extra: starlette, uvicorn, pyyaml, jsonschema."""
