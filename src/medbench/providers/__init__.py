"""Converters that turn models shipped in PyPI packages into sentence-transformers folders."""
