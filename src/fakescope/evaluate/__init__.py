"""fakescope.evaluate."""
