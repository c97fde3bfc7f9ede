"""pytest entry point (filled in below in this commit series)."""
