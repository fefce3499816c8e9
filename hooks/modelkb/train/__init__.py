"""Training: blur synthesis, data, and MSSNet's released recipe."""
