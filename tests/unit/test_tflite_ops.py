"""Every TFLite builtin has a place in the op table, and files made op by op (with LiteRT's
own schema classes, tests/tflite_build.py) are counted by rule: element-wise builtins are
counted and hold no multiply-adds; recurrent and custom convolutions are counted from
their weights; an op that runs subgraphs is flagged only when they hold multiply-adds."""

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.core.ops import Kind
from edgekit.core.records import Report
from edgekit.core.tflite_ops import CALLS, KINDS, MAC_OPS
from edgekit.readers.tflite_reader import read_tflite
from tests.tflite_build import TFLite


def _builtins() -> list[str]:
    from ai_edge_litert import schema_py_generated as S

    return sorted(k for k in vars(S.BuiltinOperator) if not k.startswith("_"))


def test_every_builtin_of_the_installed_schema_has_a_place():
    missing = [op for op in _builtins() if op not in KINDS and op not in MAC_OPS
               and op not in CALLS and op != "CUSTOM"]
    assert missing == []
    assert all(KINDS.get(op) in MAC_KINDS_OR_NONE for op in MAC_OPS)


MAC_KINDS_OR_NONE = {None, Kind.CONV, Kind.DEPTHWISE, Kind.TRANSPOSED_CONV, Kind.DENSE,
                     Kind.RECURRENT}
UNARY = sorted(op for op, k in KINDS.items() if k is Kind.ACTIVATION
               and not op.startswith("STABLEHLO") and op not in ("PRELU",))
BINARY = sorted(op for op, k in KINDS.items() if k is Kind.ELEMENTWISE
                and not op.startswith("STABLEHLO") and op not in ("ADD_N", "SELECT",
                                                                  "SELECT_V2"))


def _read(tmp_path, build):
    m = TFLite()
    g = m.graph()
    build(m, g)
    path = tmp_path / "m.tflite"
    m.save(path)
    records, _, _ = read_tflite(path)
    return records, Report({"name": "m"}, records)


@pytest.mark.parametrize("op", UNARY + BINARY)
def test_element_wise_builtins_are_counted_with_no_macs(tmp_path, op):
    shape = [1, 5, 4, 3]

    def build(m, g):
        x = g.tensor(shape)
        ins = [x] if op in UNARY else [x, g.tensor(shape)]
        y = g.tensor(shape)
        g.sg.inputs, g.sg.outputs = ins, [y]
        g.op(op, ins, [y])

    records, report = _read(tmp_path, build)
    layer = records[-1]
    assert layer.op == op and layer.counted and layer.macs == 0
    assert layer.other_ops == 60          # one per element (n - 1 for n operands)
    assert report.totals()["uncounted_mac_layers"] == []


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("steps, inputs, hidden", [(7, 10, 20), (3, 5, 2)])
def test_fused_lstm_counts_its_gate_products(tmp_path, steps, inputs, hidden, time_major):
    from ai_edge_litert import schema_py_generated as S
    from ai_edge_litert.interpreter import Interpreter  # the file is one LiteRT runs

    rng = np.random.default_rng(0)

    def build(m, g):
        x = g.tensor([steps, 1, inputs] if time_major else [1, steps, inputs])
        ins = [x] + [g.const(rng.standard_normal((hidden, inputs), np.float32))
                     for _ in range(4)]
        ins += [g.const(rng.standard_normal((hidden, hidden), np.float32))
                for _ in range(4)]
        ins += [-1, -1, -1]                                           # no peepholes
        ins += [g.const(np.zeros(hidden, np.float32)) for _ in range(4)]
        ins += [-1, -1]                                               # no projection
        for _ in range(2):                                            # states
            ins.append(g.tensor([1, hidden]))
            g.sg.tensors[-1].isVariable = True
        ins += [-1] * 4                                               # no layer norm
        y = g.tensor([steps, 1, hidden] if time_major else [1, steps, hidden])
        opts = S.UnidirectionalSequenceLSTMOptionsT()
        opts.timeMajor, opts.fusedActivationFunction = time_major, 4   # tanh
        g.sg.inputs, g.sg.outputs = [x], [y]
        g.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], opts,
             S.BuiltinOptions.UnidirectionalSequenceLSTMOptions)

    records, report = _read(tmp_path, build)
    it = Interpreter(model_path=str(tmp_path / "m.tflite"))
    it.allocate_tensors()
    it.invoke()
    assert it.get_tensor(it.get_output_details()[0]["index"]).shape[-1] == hidden
    lstm = records[-1]
    assert lstm.macs == steps * 4 * hidden * (inputs + hidden)
    assert lstm.params == 4 * hidden * (inputs + hidden) + 4 * hidden
    assert report.totals()["uncounted_mac_layers"] == []


def test_mediapipe_transposed_convolution_is_counted(tmp_path):
    # MediaPipe's Convolution2DTransposeBias (selfie segmentation, hand landmarks...):
    # input, weights (O, kh, kw, I), bias; stride 2 doubles 4x4 to 8x8
    def build(m, g):
        x = g.tensor([1, 4, 4, 3])
        w = g.const(np.ones((8, 3, 3, 3), np.float32))
        b = g.const(np.zeros(8, np.float32))
        y = g.tensor([1, 8, 8, 8])
        g.sg.inputs, g.sg.outputs = [x], [y]
        g.op("CUSTOM", [x, w, b], [y], custom=b"Convolution2DTransposeBias")

    records, report = _read(tmp_path, build)
    conv = records[-1]
    assert conv.op == "CUSTOM:Convolution2DTransposeBias" and conv.counted
    assert conv.macs == 4 * 4 * 3 * 3 * 3 * 8 and conv.params == 8 * 27 + 8


def test_a_custom_op_litert_cannot_run_is_named_in_one_line(tmp_path, cli):
    def build(m, g):
        x, y = g.tensor([1, 4, 4, 3]), g.tensor([1, 4, 4, 3])
        g.sg.inputs, g.sg.outputs = [x], [y]
        g.op("CUSTOM", [x], [y], custom=b"MyVendor.FancyOp")

    _read(tmp_path, build)
    for cmd in ("bench", "profile"):
        r = cli(cmd, tmp_path / "m.tflite", "--runs", "2")
        assert r.code == 1 and len(r.err_lines) == 1, r.err
        assert "the custom op MyVendor.FancyOp, which neither LiteRT's kernels" in r.err


@pytest.mark.parametrize("body_op, flagged", [("FULLY_CONNECTED", True), ("ADD", False)])
def test_while_is_flagged_only_when_its_body_holds_multiply_adds(tmp_path, body_op, flagged):
    from ai_edge_litert import schema_py_generated as S

    def build(m, g):
        x = g.tensor([1, 4])
        y = g.tensor([1, 4])
        opts = S.WhileOptionsT()
        opts.condSubgraphIndex, opts.bodySubgraphIndex = 1, 2
        g.sg.inputs, g.sg.outputs = [x], [y]
        g.op("WHILE", [x], [y], opts, S.BuiltinOptions.WhileOptions)
        cond = m.graph()
        c_in, c_out = cond.tensor([1, 4]), cond.tensor([], "bool")
        cond.sg.inputs, cond.sg.outputs = [c_in], [c_out]
        cond.op("REDUCE_ANY", [c_in, cond.const(np.array([1], np.int32))], [c_out])
        body = m.graph()
        b_in, b_out = body.tensor([1, 4]), body.tensor([1, 4])
        body.sg.inputs, body.sg.outputs = [b_in], [b_out]
        second = body.const(np.ones((4, 4), np.float32)) if body_op == "FULLY_CONNECTED" \
            else b_in
        body.op(body_op, [b_in, second], [b_out])

    records, report = _read(tmp_path, build)
    loop = records[-1]
    assert loop.op == "WHILE" and not loop.counted
    assert report.totals()["uncounted_mac_layers"] == (["t1"] if flagged else [])
    assert loop.params == (16 if flagged else 0)     # the body's weights are the model's


@pytest.mark.parametrize("signature", [False, True])
def test_a_leading_axis_that_is_not_the_batch_stays_in_the_shape(tmp_path, signature):
    # a Keras RNN converted: the input [batch, 7 steps, 10] is transposed to [7, batch, 10];
    # the 7 steps are not a batch. With a shape signature the converter marks the batch
    # axis (-1) wherever a transpose moved it; without one, a batch of 1 is per item.
    def build(m, g):
        x, y = g.tensor([1, 7, 10]), g.tensor([7, 1, 10])
        a, b = g.tensor([7, 1, 5]), g.tensor([7, 1, 5])
        if signature:
            g.sg.tensors[x].shapeSignature = [-1, 7, 10]
            for t in (y, a, b):
                g.sg.tensors[t].shapeSignature = [7, -1, g.sg.tensors[t].shape[-1]]
        g.sg.inputs, g.sg.outputs = [x], [a, b]
        g.op("TRANSPOSE", [x, g.const(np.array([1, 0, 2], np.int32))], [y])
        g.op("SPLIT", [g.const(np.array(2, np.int32)), y], [a, b])

    records, report = _read(tmp_path, build)
    t, split = records[1], records[2]
    assert t.output_shape == ((7, 10) if signature else (7, 1, 10))
    assert report.activation_bytes(t) == 7 * 10 * 4
    # every output of a node is a tensor: SPLIT's second half is in the memory plan
    assert [e["name"] for e in split.extra_outputs] == ["t3"]
    assert report.activation_bytes(split) == 2 * 7 * 5 * 4


def _transposed_conv_model(tmp_path):
    """MediaPipe's Convolution2DTransposeBias (stride 2, SAME) then RELU: XNNPACK runs the
    custom op, LiteRT's own kernels do not have it."""
    import struct

    def build(m, g):
        rng = np.random.default_rng(1)
        x = g.tensor([1, 4, 4, 3])
        w = g.const(rng.standard_normal((8, 3, 3, 3)).astype(np.float32))
        b = g.const(rng.standard_normal(8).astype(np.float32))
        y, z = g.tensor([1, 8, 8, 8]), g.tensor([1, 8, 8, 8])
        g.sg.inputs, g.sg.outputs = [x], [z]
        g.op("CUSTOM", [x, w, b], [y], custom=b"Convolution2DTransposeBias")
        g.sg.operators[-1].customOptions = list(struct.pack("<iii", 1, 2, 2))
        g.op("RELU", [y], [z])

    _read(tmp_path, build)
    return tmp_path / "m.tflite"


def test_profile_runs_a_custom_op_that_xnnpack_implements(tmp_path, cli):
    import json

    path = _transposed_conv_model(tmp_path)
    r = cli("profile", path, "--runs", "3", "--json")
    assert r.code == 0, r.err
    ops = {o["op"]: o for o in json.loads(r.out)["ops"]}
    custom = ops["CUSTOM:Convolution2DTransposeBias"]
    assert custom["isolated"] and custom["ms"] > 0 and custom["macs"] == 4 * 4 * 27 * 8
    assert ops["RELU"]["isolated"]
    r = cli("profile", path, "--runs", "3", "--no-xnnpack")      # no kernel then: one line
    assert r.code == 1 and len(r.err_lines) == 1 and "Convolution2DTransposeBias" in r.err


def test_the_op_by_op_reference_run_equals_the_whole_run(tmp_path):
    # the reference run of a model the reference kernels refuse is made op by op: its
    # last tensor equals the whole model's output under XNNPACK on the same inputs
    from edgekit.runtimes.isolate import interpreter, reference_tensors

    path = _transposed_conv_model(tmp_path)
    run, fed = reference_tensors(path, seed=3)
    whole = interpreter(path, xnnpack=True)
    whole.set_tensor(whole.get_input_details()[0]["index"], fed[0])
    whole.invoke()
    out = whole.get_output_details()[0]["index"]
    np.testing.assert_allclose(run.get_tensor(out), whole.get_tensor(out), rtol=1e-5)
    assert (whole.get_tensor(out) > 0).any()


def test_every_option_that_names_a_subgraph_is_read():
    # walked from the installed schema: any options class with a field naming subgraphs
    # (WHILE, IF, CALL_ONCE, StableHLO's case, reduce, scatter, sort...), as builtin
    # options or the newer second set, is read by the one function the reader and the
    # per-op profiler share
    from ai_edge_litert import schema_py_generated as S

    from edgekit.core.tflite_ops import named_subgraphs

    checked = 0
    for cls_name in dir(S):
        if not cls_name.endswith("OptionsT"):
            continue
        opts = getattr(S, cls_name)()
        fields = [k for k in vars(opts) if "ubgraph" in k]
        if not fields:
            continue
        for k, f in enumerate(fields):
            setattr(opts, f, [k + 1, k + 2] if f.endswith("Indices") else k + 1)
        for slot in ("builtinOptions", "builtinOptions2"):
            op = S.OperatorT()
            setattr(op, slot, opts)
            want = sorted(v for k, f in enumerate(fields)
                          for v in ([k + 1, k + 2] if f.endswith("Indices") else [k + 1]))
            assert sorted(named_subgraphs(op)) == want, (cls_name, slot)
        checked += 1
    assert checked >= 8
    assert named_subgraphs(S.OperatorT()) == []


@functools.cache
def recorded_table():
    from edgekit.core import lut as L

    return L.Table.load(Path(__file__).resolve().parents[1] / "data/lut/grid_xeon.lut.json")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.binary(min_size=1, max_size=24) | st.lists(
    st.sampled_from([b"|", b";", b",", b"x", b"\xff", b"Op", b"\n"]), min_size=1,
    max_size=8).map(b"".join))
def test_any_custom_op_name_is_read_and_keyed(tmp_path, name):
    # a custom op's (and a tensor's) name is the file's bytes: not UTF-8, or with the
    # latency table's separators ('|' between a key's fields, ';' between its inputs), read (the
    # bytes that are not UTF-8 replaced) and its kernel key parses back to its name, so
    # that a latency table predicts the model (the op as missing) instead of failing
    from edgekit.core import lut as L
    from edgekit.core.lut_features import parse_key

    def build(m, g):
        x, y = g.tensor([1, 4, 4, 3], name=name), g.tensor([1, 4, 4, 3], name=name + b"2")
        g.sg.inputs, g.sg.outputs = [x], [y]
        g.op("CUSTOM", [x], [y], custom=name)

    records, _ = _read(tmp_path, build)
    op = records[-1]
    assert op.op == "CUSTOM:" + name.decode(errors="replace")
    key = L.key_of(op)
    k = parse_key(key)
    assert k.op == L.kind_of(op).split("|")[0] and k.inputs == ((4, 4, 3),)
    p = recorded_table().predict([r for r in records if r.op != "INPUT"], "float32")
    assert p["ms"] >= 0 and p["measured"] + p["scaled"] + p["borrowed"] + p["missing"] == 1
