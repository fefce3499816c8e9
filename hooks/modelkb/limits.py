"""Limits on untrusted input, in one place (no imports: anything may read them cheaply)."""

DEFAULT_MAX_PIXELS = 60_000_000  # largest image decoded unless a setting says otherwise
MAX_OUTPUT_PIXELS = 100_000_000  # largest image a gallery workflow step may produce
MAX_YAML_DEPTH = 64  # nesting of mappings and lists in catalog.yml (the schema needs 5)
MAX_PNG_SLACK = 1 << 16  # inflated PNG bytes allowed beyond what the declared size needs
MAX_CARD_TITLE = 2_000  # characters of a question drawn on its link-preview card
MAX_BYTES_PER_PIXEL = 8  # decoded bytes allowed per allowed pixel (16-bit RGBA): samples count
