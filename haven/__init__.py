"""haven: an open platform for running a surrender-assistance hotline."""

__version__ = "0.1.0"
