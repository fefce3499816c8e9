"""The one exception for a problem the user can fix: :class:`ModelkbError`.

It is defined here, at the bottom of the pixel package, so that the pixel package imports
nothing of modelkb outside itself (its files alone are the code part of a picture's cache
key: see :mod:`modelkb.pixels`). The rest of modelkb imports it from :mod:`modelkb.errors`,
beside the helpers that make messages safe for a terminal.
"""


class ModelkbError(Exception):
    """An error caused by the user's input (catalog, image, weights, settings).

    ``str(error)`` is the complete message: what file, which line, what is wrong, what to do.
    """
