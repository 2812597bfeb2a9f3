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


def print_json(data) -> None:
    """A JSON document on stdout (plain print: rich would wrap and colour it)."""
    import json

    print(json.dumps(data, indent=2))


def csv_list(value: str, option: str) -> list:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not items:
        from edgekit.core.errors import UsageError

        raise UsageError(f"{option} needs at least one value")
    return list(dict.fromkeys(items))


def int_list(value: str, option: str) -> list[int]:
    from edgekit.core.errors import UsageError

    try:
        return [int(v) for v in csv_list(value, option)]
    except ValueError:
        raise UsageError(f"{option} {value}: expected comma-separated integers") from None
