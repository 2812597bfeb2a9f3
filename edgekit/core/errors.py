"""Errors that the CLI turns into one line and an exit code."""

from __future__ import annotations


class EdgekitError(Exception):
    """An error the user can act on. The CLI prints its message on one line."""

    exit_code = 1


class UsageError(EdgekitError):
    """Bad arguments: unknown model, bad knob value, missing file. Exit code 2."""

    exit_code = 2


class ModelFileError(EdgekitError):
    """A model file that exists but cannot be read (corrupt, truncated, unsupported)."""

    exit_code = 1


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if it has none):
    library errors often carry pages of context; a CLI error is one line."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
