"""Errors that the CLI turns into one line (no traceback) and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class FlemingError(Exception):
    """Base class for errors a user can act on."""


class InputError(FlemingError):
    """Bad input: names the file, the line or row, the field and what was expected.

    >>> str(InputError("a.jsonl", 3, "options", "expected a list"))
    "a.jsonl:3: field 'options': expected a list"
    """

    def __init__(self, path: str | Path, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")


class ConfigError(FlemingError):
    """A config file or option is invalid."""
