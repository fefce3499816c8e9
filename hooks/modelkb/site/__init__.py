"""The MkDocs side: the plugin and its config, generated pages, answer rendering, figures,
link previews and exports. Uses :mod:`modelkb.gallery` and :mod:`modelkb.catalog`.
"""
