"""fakescope: tell whether the faces in an image or a video were manipulated, and show why."""

__version__ = "0.1.0"
