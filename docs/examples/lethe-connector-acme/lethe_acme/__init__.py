"""Lethe connector for Acme CRM (an example HTTP system)."""

from .connector import AcmeConnector, AcmeOptions

__all__ = ["AcmeConnector", "AcmeOptions"]
