"""accessctl: just-in-time access as GitOps."""

__version__ = "0.1.0"
