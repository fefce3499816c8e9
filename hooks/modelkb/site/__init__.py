"""The site: generated pages, answer rendering, figures, link previews and exports, the
project setup the commands share, and the MkDocs adapter. Only the adapter imports MkDocs
(``plugin.py``, ``config.py``, and ``urls.py`` for page URLs). Uses :mod:`modelkb.gallery`
and :mod:`modelkb.catalog`.
"""
