"""codecbench: fair, resumable evaluation of neural and classic audio codecs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
