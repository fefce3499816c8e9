"""Network architectures and weights handling."""
