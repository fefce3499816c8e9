"""User-facing errors: a message a person can act on, never a traceback."""

from __future__ import annotations


class ModelkbError(Exception):
    """An error caused by the user's input (catalog, image, weights, settings).

    ``str(error)`` is the complete message: what file, which line, what is wrong, what to do.
    """
