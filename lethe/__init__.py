"""Lethe's front door: command line, settings, intake and the embedded dev stack."""

__version__ = "0.1.0"
