"""hepda: domain-adversarial event classifiers robust to the choice of generator."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hepda")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
