"""Names the user gave (models, layers, outputs, devices, files) in the terminal: always
text, never Rich markup or an emoji code. A ``[red]``, ``[/]`` or ``:smile:`` in a layer
name is printed as it is, whatever console renders it.

Every renderer builds its tables with ``text_table`` (a plain ``str`` cell is text; a cell meant
to be styled is passed as ``styled(...)``) and prints lines that mix its own markup with
user text through ``marked`` with each user part put through ``esc``.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text


def esc(value) -> str:
    """User text to put inside a renderer's own markup (``marked``)."""
    return escape(str(value))


def marked(markup: str) -> Text:
    """A line of the renderer's markup, its user parts escaped with ``esc``; emoji codes
    are never read (a console that reads them would turn ``:smile:`` into a face)."""
    return Text.from_markup(markup, emoji=False)


def styled(value, style: str = "") -> Text:
    """User text as one styled cell or line."""
    return Text(str(value), style=style)


class TextTable(Table):
    """A Rich table whose plain ``str`` cells are text, never markup."""

    def add_row(self, *renderables, **kwargs) -> None:
        super().add_row(*(Text(r) if isinstance(r, str) else r for r in renderables),
                        **kwargs)


def text_table(title: str | None, console, **kwargs) -> TextTable:
    """edgekit's table (left title, no box, bold heads): its title is text and, piped
    (stdout not a terminal), one line, never wrapped at the table's width."""
    heading = None if title is None else Text(
        str(title), no_wrap=not console.is_terminal, overflow="ignore")
    options = {"title_justify": "left", "box": None, "pad_edge": False,
               "header_style": "bold", **kwargs}
    return TextTable(title=heading, **options)
