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


LONGEST = 240       # characters of a library's message that an error line keeps


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if it has none):
    library errors often carry pages of context; a CLI error is one line, and a short one
    (LiteRT repeats a refusal for every tensor, on one line)."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= LONGEST else line[:LONGEST - 1].rstrip() + "…"
