#!/usr/bin/env python3
"""Print the README's model table: every zoo model at its default size, with params, MACs,
peak activation memory and weights, computed by edgekit's own analysis (nothing typed by
hand). Replace the table between the markers in README.md with --write.

    .venv/bin/python tools/zoo_table.py [--write]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEGIN, END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"


def table() -> str:
    from edgekit.core.units import nbytes
    from edgekit.services.analyze import analyze
    from edgekit.services.targets import resolve_target
    from edgekit.zoo import registry

    rows = ["| model | family | input | params | MACs | peak activations (fp32) | paper |",
            "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    for name, entry in registry.REGISTRY.items():
        report = analyze(resolve_target(name, {}))
        t = report.totals()
        shape = "x".join(map(str, report.model["input_shape"]))
        rows.append(f"| `{name}` | {entry.family} | {shape} | {t['params']:,} | "
                    f"{t['macs'] / 1e6:,.1f} M | {nbytes(t['peak_activation_bytes'])} | "
                    f"{entry.paper} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update README.md in place")
    args = ap.parse_args()
    text = table()
    if not args.write:
        print(text)
        return
    readme = ROOT / "README.md"
    content = readme.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in content:
        content = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: block, content,
                         flags=re.S)
    else:
        raise SystemExit(f"README.md has no {BEGIN} marker")
    readme.write_text(content)
    print("README.md updated")


if __name__ == "__main__":
    main()
