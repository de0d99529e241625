"""Alembic migrations of the ledger. Run by ``ledger.database.upgrade_schema``."""
