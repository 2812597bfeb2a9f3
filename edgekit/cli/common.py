"""Consoles and small helpers shared by the commands."""

from contextlib import contextmanager

from rich.console import Console

# Tables and results go to stdout; progress and warnings to stderr, so that
# `--json > file` stays clean.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def status(message: str):
    """A spinner on stderr while ``message`` runs (only on a terminal)."""
    if err.is_terminal:
        with err.status(message):
            yield
    else:
        yield


@contextmanager
def progress(message: str):
    """A spinner on stderr whose text the caller updates: ``with progress(..) as notify``.
    Silent when stderr is not a terminal (scripts, CI logs)."""
    if not err.is_terminal:
        yield lambda m: None
        return
    with err.status(message + "…") as spinner:
        yield lambda m: spinner.update(m + "…")


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False)
