"""The release version: the single source for pyproject.toml (setuptools reads it) and the package."""

VERSION = "0.1.0"
