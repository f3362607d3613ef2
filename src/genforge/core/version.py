"""The package version, in one place every layer may read (`genforge.__version__` re-exports it)."""

__version__ = "0.1.0"
