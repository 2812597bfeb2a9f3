"""`edgekit report`: edgekit's JSON documents as one self-contained HTML page."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekit.cli.app import app
from edgekit.cli.common import wrote


@app.command("report")
def report_cmd(
    inputs: Annotated[Optional[list[Path]], typer.Argument(
        help="JSON from 'analyze --json', 'bench --json', 'profile --json', 'sweep', an "
             "export manifest.json, or an export/sweep output folder.", show_default=False)
    ] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="The first two inputs are an old and a new document of the same "
        "kind (analyze, bench or sweep): show what changed, then every input.")] = False,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE.html", help="The page to write ('-': stdout). "
        "Never one of the inputs.")
    ] = Path("report.html"),
    title: Annotated[Optional[str], typer.Option(
        "--title", help="The page's title. Default: 'edgekit report'.", show_default=False)
    ] = None,
):
    """One self-contained HTML page (no network: CSS, script and SVG charts inline) from
    edgekit's results: model, layers with bars and the memory timeline, export fidelity,
    latency distributions, per-op profiles, sweeps with their Pareto chart.

    Examples: 'edgekit report a.json b.json edgekit-out/mobilenet_alpha0.5 sweep-out -o
    report.html', 'edgekit report --compare old.json new.json'.
    """
    from edgekit.core.errors import UsageError
    from edgekit.core.files import check_writable, write_text
    from edgekit.report.html import ReportInputError, load_input, render_page

    if not inputs:
        raise UsageError("report: give at least one JSON file or output folder")
    if compare and len(inputs) < 2:
        raise UsageError("--compare needs two inputs: the old document, then the new one")
    check_writable(output, stdout=True)
    loaded = []
    try:
        for path in inputs:
            if not path.exists():
                raise UsageError(f"not found: {path}")
            loaded.append(load_input(path))
        docs = [d for found in loaded for d in found]
        pair = None
        if compare:
            if len(loaded[0]) != 1 or len(loaded[1]) != 1:
                raise UsageError("--compare takes two JSON documents, not folders")
            pair = (loaded[0][0], loaded[1][0])
        page = render_page(docs, compare=pair, title=title)
    except ReportInputError as e:
        raise UsageError(str(e)) from None
    write_text(output, page, stdout=True)
    wrote(output)
