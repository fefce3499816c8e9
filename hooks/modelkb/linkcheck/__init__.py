"""Outbound link checking: the catalog's links, their offline checks, the HTTP checker and
the cached results.

- :mod:`~modelkb.linkcheck.collect`: every outbound URL of a validated catalog (URL fields
  and links inside Markdown text) with the entry that holds it and, given the YAML read
  with positions, its line and column; the offline checks of arXiv identifiers;
- :mod:`~modelkb.linkcheck.checker`: the concurrent HTTP checker (httpx): per-host limits,
  timeouts, retries with backoff, HEAD with a GET fallback, redirects followed by hand;
- :mod:`~modelkb.linkcheck.results`: one link's result and the dated results cached as
  ``<cache>/links.json``, read by ``modelkb links`` and by the site's Link health page.

``modelkb links`` (``modelkb.commands.check_links``) puts them together; the site reads the
results only (``modelkb.site.link_health``), and a build never makes a request.
"""
