"""The demo: four local systems and one erasure, end to end."""
