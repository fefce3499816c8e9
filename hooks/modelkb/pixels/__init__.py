"""The code that makes a gallery picture's pixels and numbers, and nothing else.

``imaging`` (decode, encode, quantise), ``workflows`` (the steps: restore, resize),
``tiling`` (a network on a photo of any size, on a device), ``registry`` (the architectures
and their registrations) with the built-in ``mssnet``, ``metrics`` (PSNR, SSIM, CIEDE2000,
sharpness), ``compute`` (one picture: decode, run the workflow, write ``output.png``,
``restored.png`` and ``run.json``), ``results`` (``run.json``'s typed record), ``usererror``
(:class:`ModelkbError`, defined here so that nothing outside is needed).

**The cache key.** The package imports nothing of modelkb outside itself but
:mod:`modelkb.limits` (constants, no imports); ``tests/test_architecture.py`` holds it to
that. So the code part of a picture's cache key is the bytes of this package's modules that
:mod:`~modelkb.pixels.compute` reaches by its imports (:func:`modelkb.sourcehash.code_digest`),
the registered architectures' modules (a third party's included) and their registrations,
the versions of numpy, torch, Pillow, SciPy and scikit-image, and :data:`PIXEL_VERSION`.
Editing the gallery's runner, the catalog, the site or ``errors.py`` recomputes nothing;
editing a network, a step or a metric recomputes every picture it may change.

Bump :data:`PIXEL_VERSION` to recompute every picture when nothing in this package changed
but its results should (e.g. a library behaves differently at the same version).
"""

PIXEL_VERSION = 1
