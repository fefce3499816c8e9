"""Sub-commands of the `modelkb` CLI."""
