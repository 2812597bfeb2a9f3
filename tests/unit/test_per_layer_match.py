"""Which tensor of an exported file is which Keras layer (export.per_layer.match), on
generated graphs in the shapes the converters write: TFLite ops with fused names
('m/blk_1/Relu;m/blk_bn_1/...;m/blk_1/BiasAdd'), ONNX nodes one per Keras op with
QuantizeLinear/DequantizeLinear pairs after them, renamed nodes ('Conv__37') known only by
their weights' names through constant ops, a final softmax with its (de)quantize chain.
No TensorFlow: the graphs are built as edgekit reads them."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.export.capture import Capture, Op
from edgekit.export.per_layer import Group, KerasGraph, match

BLOCK = st.tuples(st.booleans(), st.booleans(), st.booleans())   # bn, relu, renamed


def keras_graph(blocks) -> KerasGraph:
    kg = KerasGraph([], {"inp": ""}, {"inp": 0})
    pos, prev = 1, ""
    for i, (bn, relu, _) in enumerate(blocks):
        name = f"blk{i}"
        members = [name] + ([f"{name}_bn"] if bn else []) + ([f"{name}_relu"] if relu else [])
        last = i == len(blocks) - 1
        kg.groups.append(Group(name, "Conv2D", members, [prev], logits=last,
                               fused_final=last))
        for m in members:
            kg.group_of[m], kg.order[m] = name, pos
            pos += 1
        prev = name
    return kg


def tflite_file(blocks):
    """(Capture, {group: expected tensor}) in the TFLite converter's shape."""
    ops, names, expect = [], {0: "serving_default_x:0"}, {}
    t, n = 0, 1
    for i, (bn, relu, _) in enumerate(blocks):
        parts = ([f"m/blk{i}_relu_1/Relu"] if relu else []) + \
            ([f"m/blk{i}_bn_1/batchnorm/add_1"] if bn else []) + [f"m/blk{i}_1/BiasAdd"]
        names[n], names[n + 1] = f"m/blk{i}_1/convolution", ";".join(parts)
        ops.append(Op(names[n + 1], "CONV_2D", [t, n], [n + 1], len(ops)))
        expect[f"blk{i}"] = n + 1
        t, n = n + 1, n + 2
    names[n] = "StatefulPartitionedCall:0"
    ops.append(Op(names[n], "SOFTMAX", [t], [n], len(ops)))
    consts = {k for k in names if k not in {o for op in ops for o in op.outputs} and k != 0}
    return Capture("tflite", Path("m.tflite"), ops, names, [0], [n], consts | {-1}), expect


def onnx_file(blocks):
    """(Capture, {group: expected tensor}) in tf2onnx + quantize_static's QDQ shape."""
    ops, expect, consts = [], {}, set()
    t = "x"

    def node(name, kind, inputs, out):
        ops.append(Op(name, kind, inputs, [out], len(ops)))
        return out

    def qdq(src):
        q = node(f"{src}_QuantizeLinear", "QuantizeLinear", [src, "s", "z"], f"{src}_q")
        return node(f"{src}_DequantizeLinear", "DequantizeLinear", [q, "s", "z"], f"{src}_dq")

    t = qdq(t)
    for i, (bn, relu, renamed) in enumerate(blocks):
        w, b = f"m/blk{i}_1/convolution/ReadVariableOp:0", f"m/blk{i}_1/Squeeze:0"
        consts |= {w, b, f"shape{i}"}
        if renamed:   # only the bias knows the layer, through a reshape of constants
            w = f"const_fold_opt__{i}"
            consts.add(w)
            b = node(f"Reshape__{i}", "Reshape", [b, f"shape{i}"], f"Conv__{i}:0_bias")
            t = node(f"Conv__{i}", "Conv", [t, w, b], f"Conv__{i}:0")
        else:
            t = node(f"m/blk{i}_1/BiasAdd", "Conv", [t, w, b], f"m/blk{i}_1/BiasAdd:0")
        if bn:
            t = node(f"m/blk{i}_bn_1/batchnorm/mul_1", "Mul", [t, f"g{i}"], f"bn{i}:0")
            consts.add(f"g{i}")
        if relu:
            t = node(f"m/blk{i}_relu_1/Relu", "Relu", [t], f"m/blk{i}_relu_1/Relu:0")
        if i < len(blocks) - 1:
            t = qdq(t)
        expect[f"blk{i}"] = t
    out = node(f"m/blk{len(blocks) - 1}_1/Softmax", "Softmax", [t], "probs")
    out = qdq(out)
    consts |= {"s", "z"}
    cap = Capture("onnx", Path("m.onnx"), ops, {}, ["x"], [out], consts | {""})
    cap.names = {o: o for op in ops for o in op.outputs} | {c: c for c in consts}
    return cap, expect


@settings(max_examples=80, deadline=None)
@given(st.lists(BLOCK, min_size=1, max_size=8))
def test_every_layer_group_gets_its_own_last_tensor(blocks):
    kg = keras_graph(blocks)
    for cap, expect in (tflite_file(blocks), onnx_file(blocks)):
        cands, tensor_group = match(cap, kg)
        final_in = cap.final_activation()[1]
        for g in kg.groups:
            want = final_in if g.logits else expect[g.name]
            assert cands[g.name][-1] == want, (cap.fmt, g.name, cands[g.name], want)
        # nothing after the final softmax belongs to a layer; every activation before it does
        softmax_out = next(op for op in cap.ops if op.type in ("SOFTMAX", "Softmax")).outputs
        assert all(t not in tensor_group or tensor_group[t] is None for t in softmax_out)
        assert all(tensor_group.get(t) for g in kg.groups[:-1] for t in [expect[g.name]])
