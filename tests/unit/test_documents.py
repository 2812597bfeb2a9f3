"""One home per JSON document (core/documents.py): what a command writes, the same home
reads back (report, the export cache, the sweep, bench --compare), checked by one schema;
NaN never reaches a file; a document read is an input of the command."""

import json
import math
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.core import documents as D
from edgekit.core import files as F
from edgekit.core.errors import UsageError
from edgekit.core.schema import SchemaError


@pytest.fixture(autouse=True)
def fresh_inputs():
    F.forget_inputs()
    yield
    F.forget_inputs()


@pytest.fixture
def analysis_doc(tmp_path):
    """The analyze document of a real (tiny) ONNX file, as analyze --json writes it."""
    from edgekit.report.analysis import to_document
    from edgekit.services.analyze import analyze_file

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    w = numpy_helper.from_array(np.ones((16, 8), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                              "g", [x], [y], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return to_document(analyze_file(path))


def test_what_analyze_writes_its_home_reads_back(tmp_path, analysis_doc):
    out = tmp_path / "a.json"
    D.ANALYSIS.write(out, analysis_doc)
    assert D.kind_of(json.loads(out.read_text())) == "analysis"
    back = D.ANALYSIS.read(out)
    assert back["totals"]["macs"] == 16 * 8 == analysis_doc["totals"]["macs"]
    assert back == json.loads(D.ANALYSIS.dumps(analysis_doc))
    with pytest.raises(UsageError, match="it is an input of this command"):
        F.write_text(out, "{}")   # read: an input


def test_nan_never_reaches_a_document(tmp_path, analysis_doc):
    analysis_doc["totals"]["flops"] = math.nan
    with pytest.raises(ValueError, match="not JSON compliant"):
        D.ANALYSIS.write(tmp_path / "a.json", analysis_doc)
    assert not (tmp_path / "a.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ek-")]


def _manifest(**artifact) -> dict:
    art = {"file": "m_int8.tflite", "format": "tflite", "quant": "int8", "bytes": 10,
           "sha256": "0" * 64, "fidelity": {"top1_agreement": 1.0, "cosine": 0.99,
                                            "sqnr_db": 30.0}}
    return {"schema": 1, "kind": "edgekit export manifest", "artifacts": [{**art, **artifact}],
            "validation": {"samples": 4}}


@pytest.mark.parametrize("artifact, key", [
    ({"format": "exe"}, "artifacts[0].format"),
    ({"file": "../m.tflite"}, "artifacts[0].file"),
    ({"sha256": "zz"}, "artifacts[0].sha256"),
    ({"bytes": -1}, "artifacts[0].bytes"),
])
def test_a_manifest_is_read_against_its_schema(tmp_path, artifact, key):
    """The export cache and the sweep read manifests through the same schema as the
    report: a hand-edited entry is one line naming the key."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest(**artifact)))
    with pytest.raises(SchemaError, match=rf"manifest.json: key '{re.escape(key)}'"):
        D.MANIFEST.read(path)


def test_an_own_manifest_is_not_kept_as_an_input_unless_it_was_one(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest(fidelity={"top1_agreement": None})))
    assert D.MANIFEST.read(path, own=True)["validation"]["samples"] == 4
    F.write_text(path, "{}")                    # edgekit's own: it may rewrite it
    path.write_text(json.dumps(_manifest()))
    F.note_input(path)                          # a user's file by another spelling
    D.MANIFEST.read(tmp_path / "." / "manifest.json", own=True)
    with pytest.raises(UsageError, match="it is an input of this command"):
        F.write_text(path, "{}")


def test_every_document_kind_has_its_schema():
    assert set(D.BY_KIND) == {"analysis", "export", "bench", "profile", "sweep"}
    for doc in D.BY_KIND.values():
        assert doc.schema is not None
    with pytest.raises(D.DocumentError, match="not an edgekit document"):
        D.kind_of({"something": 1})


def test_a_sweep_rows_minimalistic_is_a_bool(tmp_path):
    """MobileNet v3's minimalistic switch is a named key of a sweep row: true or false,
    absent for a model without it; anything else is one line naming the key."""
    from tests.unit.test_user_files import sweep_doc

    doc = sweep_doc()
    assert all("minimalistic" not in r for r in doc["rows"])
    doc["rows"][0]["minimalistic"] = True
    doc["rows"][1]["minimalistic"] = False
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(doc))
    assert [r.get("minimalistic") for r in D.SWEEP.read(path)["rows"]] == [True, False, None]
    doc["rows"][0]["minimalistic"] = "yes"
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match=r"key 'rows\[0\]\.minimalistic'"):
        D.SWEEP.read(path)
