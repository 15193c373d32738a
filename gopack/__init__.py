"""gopack: ship a Go program that embeds CPython as one portable archive."""

__version__ = "0.1.0"
