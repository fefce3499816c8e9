"""The build-time gallery: workflows run on the gallery photos, cached by content.

``runner`` (the run over all entries, in parallel), ``single`` (one entry: its cache keys,
its result, its published files), ``history`` (what the cache remembers between runs: key
parts, timings), ``forecast`` (what a run would do and cost), ``cache`` (content-addressed
entries), ``shards`` (shares for several machines, merging their caches), ``webimages``
(published images, crops, ``metrics.json``), ``records`` (typed results). The pixels are
made by :mod:`modelkb.pixels`, the weights chosen by :mod:`modelkb.models`; the gallery
never uses the site.
"""
