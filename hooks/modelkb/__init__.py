"""modelkb: grounded answers about AI models, published as a static site."""

__version__ = "0.1.0"
