"""The build-time gallery: workflows run on the gallery photos, cached by content.

``runner`` (which entries to compute, in parallel), ``workflows`` (the steps), ``cache``
(content-addressed entries), ``render`` (published images, crops), ``metrics`` (PSNR, SSIM,
CIEDE2000), ``records`` (typed results). Uses :mod:`modelkb.models` and
:mod:`modelkb.pixels.imaging`; never the site.
"""
