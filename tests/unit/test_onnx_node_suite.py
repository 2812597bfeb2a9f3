"""The ONNX backend node tests (the peer suite every ONNX runtime is checked against),
generated at test time from the installed onnx package (nothing downloaded), analyzed
in-process by edgekit's ONNX reader with each test's own input values (``--inputs``).

Oracles, independent of edgekit's evaluation: every tensor's real shape and element type
from onnx's reference evaluator run on the test's inputs (the graph outputs also from the
test's expected outputs), and the MACs of each MAC-bearing op computed here from those
shapes with formulas written in another form (output elements x reduction length) than
edgekit's geometry-based ones in edgekit.core.ops.
"""

from __future__ import annotations

import math
import warnings
from functools import cache

import numpy as np
import pytest

from edgekit.core.onnx_ops import KINDS

onnx = pytest.importorskip("onnx")


@cache
def cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c.name: c for c in collect_testcases()}


def _array(value):
    """A test's value as numpy: TensorProto (bfloat16, float8, int4 ...) decoded by onnx,
    numpy scalars as 0-d arrays; sequences and optionals as they are."""
    from onnx import numpy_helper

    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def _inputs(case) -> dict:
    inits = {i.name for i in case.model.graph.initializer}
    names = [i.name for i in case.model.graph.input if i.name not in inits]
    return {n: _array(v) for n, v in zip(names, case.data_sets[0][0], strict=False)}


def _bits(value: np.ndarray) -> int | None:
    """Bits per element of a real value (None for strings: no fixed size)."""
    import ml_dtypes

    dt = value.dtype
    if dt.kind in "OUS":
        return None
    if dt.kind == "c":
        return dt.itemsize * 8
    if dt.kind in "iub" and dt.name not in ("int4", "uint4", "int2", "uint2"):
        return dt.itemsize * 8
    if dt.kind == "f" and dt.name in ("float64", "float32", "float16"):
        return dt.itemsize * 8
    try:
        return ml_dtypes.finfo(dt).bits
    except (TypeError, ValueError):
        return ml_dtypes.iinfo(dt).bits


def _reference_values(case) -> dict:
    """Every tensor of the graph from onnx's reference evaluator (local functions inlined,
    as edgekit reads them), on the test's own inputs."""
    from onnx.inliner import inline_local_functions
    from onnx.reference import ReferenceEvaluator

    model = inline_local_functions(case.model) if case.model.functions else case.model
    expected = {o.name: _array(v) for o, v in zip(case.model.graph.output,
                                                  case.data_sets[0][1], strict=False)}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return ReferenceEvaluator(model).run(None, _inputs(case), intermediate=True)
        except Exception:  # a few tests the reference cannot run (deprecated Scatter):
            return expected  # their expected outputs are then the oracle


MAC_OPS = {"Conv", "ConvInteger", "QLinearConv", "ConvTranspose", "Gemm", "MatMul",
           "MatMulInteger", "QLinearMatMul", "LSTM", "GRU", "RNN", "Einsum"}


def reference_macs(node, shape) -> int | None:
    """MACs of one MAC-bearing node from real shapes: output elements x the length of the
    sum behind each (None when the node is not MAC-bearing)."""
    op = node.op_type
    if op not in MAC_OPS:
        return None
    ins = [shape(i) if i else None for i in node.input]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if op in ("Conv", "ConvInteger"):
        return math.prod(shape(node.output[0])) * math.prod(ins[1][1:])
    if op == "QLinearConv":
        return math.prod(shape(node.output[0])) * math.prod(ins[3][1:])
    if op == "ConvTranspose":          # every input pixel times Cout/group x kernel
        return math.prod(ins[0]) * math.prod(ins[1][1:])
    if op == "Gemm":
        a = ins[0]
        return math.prod(shape(node.output[0])) * (a[0] if attrs.get("transA") else a[1])
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        return math.prod(shape(node.output[0])) * ins[0][-1]
    if op in ("LSTM", "GRU", "RNN"):
        x, r = ins[0], ins[2]
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        steps_times_batch = x[0] * x[1]
        return steps_times_batch * r[0] * gates * r[2] * (x[2] + r[2])
    if op == "Einsum":
        eq = attrs["equation"].decode().replace(" ", "")
        lhs = eq.split("->")[0].split(",")
        if len(lhs) < 2:
            return 0
        sizes = {}
        for letters, dims in zip(lhs, ins, strict=True):
            sizes.update(zip(letters, dims, strict=True))
        return math.prod(sizes.values())
    return None


def analyzed(case):
    from edgekit.readers.onnx_reader import read_onnx_model

    values = {k: v for k, v in _inputs(case).items() if isinstance(v, np.ndarray)}
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    return read_onnx_model(model, values=values)


def test_the_suite_is_there():
    # the peer suite is generated from the installed package: it must be the real one
    assert len(cases()) > 1500


def _names(prefix: str) -> list[str]:
    return [n for n in sorted(cases()) if n.startswith(prefix)]


@pytest.mark.parametrize("letter", list("abcdefghijklmnopqrstuvwxyz"))
def test_every_node_test_model_is_read_right(letter, capfd):
    """For every node test (grouped by first letter): no internal error and nothing on
    stderr; graph output shapes equal the expected outputs'; activation bytes equal the
    real element sizes; every MAC-bearing op with static sizes counted exactly."""
    from edgekit.core.records import Report

    checked_macs = 0
    for name in _names(f"test_{letter}"):
        case = cases()[name]
        records, outputs, info = analyzed(case)
        err = capfd.readouterr().err
        assert err == "", f"{name}: foreign log on stderr: {err[:200]}"
        report = Report({"name": name}, records, outputs=outputs, batch_in_shapes=True)
        report.to_dict()
        ref = _reference_values(case)
        expected = {o.name: _array(v) for o, v in zip(case.model.graph.output,
                                                  case.data_sets[0][1], strict=False)}
        by_output = {}
        for r in records:
            by_output[r.name] = (r.output_shape, r.act_dtype)
            for extra in r.extra_outputs:
                by_output[extra["name"]] = (tuple(extra["shape"] or ()), extra["dtype"])
        for out, value in expected.items():
            if not isinstance(value, np.ndarray) or out not in by_output:
                continue
            assert tuple(by_output[out][0]) == value.shape, f"{name}: output {out}"
        names = {r.name: r for r in records}
        for node in case.model.graph.node:
            rec = names.get(node.name or next((o for o in node.output if o), ""))
            if rec is None or node.op_type not in KINDS and rec.op != node.op_type:
                continue                 # folded (a constant, a Q/DQ of an activation), or
                                         # expanded into its function (checked below)
            values = [ref.get(o) for o in node.output if o]
            if rec.op != "Input" and all(isinstance(v, np.ndarray) and _bits(v) is not None
                                         for v in values) \
                    and not rec.unknown_size and not rec.alias:
                want = sum(-(-v.size * _bits(v) // 8) for v in values)
                assert report.activation_bytes(rec) == want, f"{name}: bytes of {rec.name}"

            def shape(t, ref=ref):
                return tuple(np.asarray(ref[t]).shape)

            try:
                want_macs = reference_macs(node, shape)
            except (KeyError, IndexError, TypeError):
                want_macs = None         # an optional input or output the test leaves out
            if want_macs is not None and not rec.unknown_size:
                assert rec.counted, f"{name}: {node.op_type} not counted"
                assert rec.macs == want_macs, f"{name}: MACs of {node.op_type}"
                checked_macs += 1
    if letter in "cglm":             # Conv*, Gemm/GRU, LSTM, MatMul* are MAC-bearing tests
        assert checked_macs > 5


def test_the_cli_on_a_sample_of_node_tests(tmp_path, cli):
    """The whole command on a few node-test models written to files, their inputs given
    as --inputs FILE.npz: one call each, exit 0, nothing on stderr, the figures of the
    in-process reading."""
    import json

    sample = ("test_conv_with_strides_padding", "test_lstm_defaults", "test_if",
              "test_loop11", "test_split_equal_parts_1d_opset18", "test_cast_FLOAT_to_INT4",
              "test_blackmanwindow", "test_gru_batchwise")
    for name in sample:
        path = tmp_path / f"{name}.onnx"
        onnx.save(cases()[name].model, path)
        feeds = {k: v for k, v in _inputs(cases()[name]).items() if isinstance(v, np.ndarray)}
        args = ["analyze", path, "--json"]
        if feeds:
            np.savez(tmp_path / f"{name}.npz", **feeds)
            args += ["--inputs", tmp_path / f"{name}.npz"]
        run = cli(*args)
        assert run.code == 0 and run.err == "", (name, run.err)
        doc = json.loads(run.out)
        records, _, _ = analyzed(cases()[name])
        assert doc["model"]["batch_in_shapes"] is True
        assert [r["macs"] for r in doc["layers"]] == [r.macs for r in records], name


def _expanded_pairs(prefix: str = "test_") -> list[str]:
    names = set(cases())
    return [n for n in sorted(names) if n.startswith(prefix)
            and not n.endswith("_expanded") and f"{n}_expanded" in names]


@pytest.mark.parametrize("letter", list("abcdefghijklmnopqrstuvwxyz"))
def test_an_op_counts_what_its_expanded_form_multiplies(letter):
    """The suite holds each test of an op that ONNX defines as a function twice: the op,
    and its function body expanded (checked above against the reference shapes). Each
    op's MACs equal its expanded form's (Attention in all its variants; ops edgekit's
    table does not name, expanded by the reader as ONNX defines them), and where one
    form leaves MACs out (a body of unknown sizes), so does the other."""
    from edgekit.core.records import Report

    for name in _expanded_pairs(f"test_{letter}"):
        forms = [Report({"name": n}, analyzed(cases()[n])[0], batch_in_shapes=True).totals()
                 for n in (name, f"{name}_expanded")]
        assert forms[0]["macs"] == forms[1]["macs"], name
        assert bool(forms[0]["uncounted_mac_layers"]) == bool(
            forms[1]["uncounted_mac_layers"]), name


def test_attention_is_counted_as_the_op_it_is():
    pairs = _expanded_pairs("test_attention")
    assert len(pairs) > 40
    for name in pairs:
        records, _, _ = analyzed(cases()[name])
        (op,) = [r for r in records if r.op == "Attention"]
        assert op.counted and op.macs > 0, name
