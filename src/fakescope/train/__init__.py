"""fakescope.train."""
