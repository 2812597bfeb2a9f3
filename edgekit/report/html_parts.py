"""The small pieces of edgekit's HTML report (report/html.py) that other report modules
draw with too (report/per_layer.py): escaped text, numbers, sortable tables, bars,
key/value tables, and SVG axes with ticks and labelled units."""

from __future__ import annotations

from html import escape


def esc(v) -> str:
    return escape(str(v), quote=True)


def num(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return esc(v)


def table(columns: list[str], rows: list[list], cls: str = "", row_attrs=None,
           numeric: set | None = None) -> str:
    """A sortable table: cells are (display html, sort key) or plain values."""
    numeric = numeric or set()
    head = "".join(f'<th scope="col" class="{"num" if c in numeric else ""}">{esc(c)}</th>'
                   for c in columns)
    body = []
    for i, row in enumerate(rows):
        attrs = row_attrs(i) if row_attrs else ""
        cells = []
        for c, cell in zip(columns, row, strict=True):
            shown, key = cell if isinstance(cell, tuple) else (num(cell), cell)
            sort = "" if key is None else f' data-sort="{esc(key)}"'
            cells.append(f'<td class="{"num" if c in numeric else ""}"{sort}>{shown}</td>')
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    return (f'<table class="sortable {cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def bar(value: float, top: float, colour: str, text: str) -> tuple[str, float]:
    width = 0 if not top else max(0.0, min(100.0, 100 * value / top))
    return (f'<div class="bar"><span style="width:{width:.1f}%;background:{colour}"></span>'
            f'<em>{text}</em></div>', value)


def kv(pairs: list[tuple[str, object]]) -> str:
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th>'
                   f"<td>{esc(v) if isinstance(v, str) else num(v)}</td></tr>"
                   for k, v in pairs if v is not None)
    return f'<table class="kv">{rows}</table>'


# ---- SVG charts -----------------------------------------------------------------------------

def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    import math

    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


class Plot:
    """Axes in an SVG of fixed size: data to pixels, ticks, labels with units."""

    W, H, L, R, T, B = 720, 300, 70, 20, 20, 50

    def __init__(self, xs, ys, xlabel: str, ylabel: str, x0=None, y0=None):
        self.x0 = min(xs) if x0 is None else x0
        self.x1 = max(xs) if max(xs) > self.x0 else self.x0 + 1
        self.y0 = min(ys) if y0 is None else y0
        self.y1 = max(ys) if max(ys) > self.y0 else self.y0 + 1
        pad = (self.y1 - self.y0) * 0.05
        self.y1 += pad
        if y0 is None:
            self.y0 -= pad
        self.xlabel, self.ylabel, self.parts = xlabel, ylabel, []

    def px(self, x: float) -> float:
        return self.L + (x - self.x0) / (self.x1 - self.x0) * (self.W - self.L - self.R)

    def py(self, y: float) -> float:
        return self.H - self.B - (y - self.y0) / (self.y1 - self.y0) * (self.H - self.T - self.B)

    def svg(self, title: str) -> str:
        axis = []
        for t in ticks(self.x0, self.x1):
            x = self.px(t)
            axis.append(f'<line x1="{x:.1f}" y1="{self.H - self.B}" x2="{x:.1f}" '
                        f'y2="{self.H - self.B + 4}" class="tick"/><text x="{x:.1f}" '
                        f'y="{self.H - self.B + 16}" text-anchor="middle">{num(t)}</text>')
        for t in ticks(self.y0, self.y1):
            y = self.py(t)
            axis.append(f'<line x1="{self.L}" y1="{y:.1f}" x2="{self.W - self.R}" '
                        f'y2="{y:.1f}" class="grid"/><text x="{self.L - 6}" y="{y + 4:.1f}" '
                        f'text-anchor="end">{num(t)}</text>')
        axis.append(f'<text x="{(self.L + self.W - self.R) / 2}" y="{self.H - 8}" '
                    f'text-anchor="middle" class="label">{esc(self.xlabel)}</text>')
        axis.append(f'<text transform="translate(14 {(self.T + self.H - self.B) / 2}) '
                    f'rotate(-90)" text-anchor="middle" class="label">{esc(self.ylabel)}</text>')
        axis.append(f'<rect x="{self.L}" y="{self.T}" width="{self.W - self.L - self.R}" '
                    f'height="{self.H - self.T - self.B}" class="frame"/>')
        return (f'<svg viewBox="0 0 {self.W} {self.H}" role="img" aria-label="{esc(title)}" '
                f'class="chart"><title>{esc(title)}</title>{"".join(axis)}'
                f'{"".join(self.parts)}</svg>')
