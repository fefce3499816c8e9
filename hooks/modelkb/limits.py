"""Limits on untrusted input, in one place (no imports: anything may read them cheaply)."""

DEFAULT_MAX_PIXELS = 60_000_000  # largest image decoded unless a setting says otherwise
