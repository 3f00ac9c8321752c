"""fakescope.analysis."""
