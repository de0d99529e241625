"""``lethe serve``: the HTTP API (``docs/http-api.md``), a second front door over the same
operations as the command line (``lethe/operations/``, ``lethe/intake.py``).

Imported only by ``lethe serve`` and the tests: FastAPI and uvicorn are the ``web`` extra's.
"""
