"""A sweep's failed configs are on its page: which, on which runtime and stage, where and
why (escaped: a reason is text from a library or a remote node)."""

import json

from edgekit.report.html import load_input, render_page
from tests.unit.test_user_files import sweep_doc


def test_failed_configs_are_listed_with_where_and_why(tmp_path):
    doc = sweep_doc()
    doc["failed"] = [
        {"id": "mobilenet-a0.25-r96-int8", "runtime": None, "stage": "build",
         "where": "node 10.0.0.7", "reason": "worker died <script>alert(1)</script>"},
        {"id": "mobilenet-a0.5-r96-none", "runtime": "litert", "stage": "time",
         "where": "this machine", "reason": "LiteRT cannot load it"}]
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(doc))
    page = render_page(load_input(path))
    assert "2 failed)" in page and "Failed configs" in page
    for f in doc["failed"]:
        assert f["id"] in page and f["where"] in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    del doc["failed"]
    path.write_text(json.dumps(doc))
    assert "Failed configs" not in render_page(load_input(path))
