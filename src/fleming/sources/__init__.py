"""Loaders for every benchmark and training set, and their registry (``fleming data``)."""
