"""A sweep over MobileNet v3's minimalistic switch shows it on its HTML page, as the
terminal table does: a 'min.' column (yes/no per config) and its meaning under the title;
no such column where no config is minimalistic."""

import json
import re

from edgekit.report.html import load_input, render_page
from tests.unit.test_user_files import sweep_doc


def _cells(page: str, column: str) -> list[str]:
    """The cells of ``column`` in the sweep's table, top to bottom."""
    table = re.search(r'<table class="sortable ">.*?</table>', page.split('id="sweep-0"')[1],
                      re.S).group(0)
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    at = heads.index(column)
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", r)[at] for r in rows]


def test_the_minimalistic_configs_are_named_on_the_page(tmp_path):
    doc = sweep_doc()
    for r, on in zip(doc["rows"], (True, False, True), strict=True):
        r["minimalistic"] = on
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(doc))
    page = render_page(load_input(path))
    assert _cells(page, "min.") == ["yes", "no", "yes"]
    assert _cells(page, "config") == [r["id"] for r in doc["rows"]]
    assert "minimalistic form" in page
    for r in doc["rows"]:
        r["minimalistic"] = False
    path.write_text(json.dumps(doc))
    page = render_page(load_input(path))
    assert "min." not in re.findall(r"<th[^>]*>(.*?)</th>", page)
    assert "minimalistic form" not in page
