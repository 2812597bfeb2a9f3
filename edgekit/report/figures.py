"""Writing matplotlib figures (core.files.write_output), in the format the file name asks
for."""

from __future__ import annotations

from pathlib import Path

from edgekit.core.files import figure_format, write_output


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Write a figure in the format its suffix names (png, pdf, svg), and close it."""
    import matplotlib.pyplot as plt

    fmt = figure_format(path)
    try:
        write_output(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi), mode="wb")
    finally:
        plt.close(fig)
