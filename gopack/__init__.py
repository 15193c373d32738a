"""gopack: ship a Go program that embeds CPython as one portable archive."""

from gopack import _jsonschema  # noqa: F401  # before anything imports jsonschema (see there)

__version__ = "0.1.0"
