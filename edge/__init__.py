"""edge: an offline assistant for small computers."""

__version__ = "0.1.0"
