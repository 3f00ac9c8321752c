"""fakescope.detectors."""
