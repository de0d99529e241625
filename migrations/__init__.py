"""Alembic migrations of the ledger. Run by ``ledger.database.upgrade_schema``."""

# The newest revision in versions/: what this code's ledger schema is. Read by the ledger to
# tell a current schema from one to migrate without loading Alembic; a new migration changes
# it (tests/ledger/test_schema_head.py checks it against Alembic's own head).
HEAD = "0013_processor_callbacks"
