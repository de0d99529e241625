"""Local fakes of hosted services, each held to a written contract (``contracts/*.yaml``, an
OpenAPI subset written from the vendor's documentation): small stateful Starlette apps on
127.0.0.1 and a free port, with real status codes, error bodies, pagination, authentication
failures and injectable 429/5xx faults. Every request a fake receives, and every answer it
gives, is checked against its contract; a breach is recorded (``fake.violations``) and the
request answered 400, so a test that sent it fails."""
