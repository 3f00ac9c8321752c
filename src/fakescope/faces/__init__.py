"""fakescope.faces."""
