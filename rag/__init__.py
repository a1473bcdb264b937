"""MentorKB's retrieval and answering core.

Everything here is importable without side effects: models, clients and
settings are built by factories when first asked for, never at import time.
"""

__version__ = "0.1.0"
