"""fakescope.media."""
