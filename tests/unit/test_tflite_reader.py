"""The TFLite reader on real third-party files (tests/data/third_party), figures derived
independently: by hand from the architecture, or through the LiteRT interpreter."""

from collections import Counter

import numpy as np
import pytest

from edgekit.core.errors import ModelFileError
from edgekit.readers.tflite_reader import read_tflite
from tests.conftest import THIRD_PARTY_MODELS

PERSON = THIRD_PARTY_MODELS / "person_detect.tflite"
MNV2 = THIRD_PARTY_MODELS / "mobilenet_v2_quantized_1x3x224x224.tflite"

# MobileNet v1, alpha 0.25: (in, out, output spatial) of the 13 depthwise-separable blocks
# at a 96x96 input (48x48 after the stride-2 stem)
BLOCKS = [(8, 16, 48), (16, 32, 24), (32, 32, 24), (32, 64, 12), (64, 64, 12),
          (64, 128, 6)] + [(128, 128, 6)] * 5 + [(128, 256, 3), (256, 256, 3)]


def test_person_detect_by_hand():
    """TFLM's person detector: MobileNet v1 0.25 on 96x96x1 with 2 classes. LiteRT refuses
    the file, the reader must not."""
    records, outputs, info = read_tflite(PERSON)
    ops = Counter(r.op for r in records)
    # the 1-channel stem is written as a depthwise conv (multiplier 8): 14 + 14 convs
    assert ops["DEPTHWISE_CONV_2D"] == 14 and ops["CONV_2D"] == 14
    assert ops["AVERAGE_POOL_2D"] == 1 and ops["SOFTMAX"] == 1
    macs = 9 * 1 * 8 * 48 * 48                       # stem: 3x3, 1 -> 8 channels
    params = 9 * 8 + 8
    for cin, cout, hw in BLOCKS:
        macs += 9 * cin * hw * hw + cin * cout * hw * hw
        params += 9 * cin + cin + cin * cout + cout  # weights + biases (BN folded)
    macs += 256 * 2                                  # the 1x1 classifier on 1x1
    params += 256 * 2 + 2
    assert sum(r.macs for r in records) == macs == 7_157_888
    assert sum(r.params for r in records) == params
    assert info["input_shape"] == [96, 96, 1] and info["input_dtype"] == "int8"
    assert all(r.act_dtype == "int8" for r in records)
    conv = next(r for r in records if r.op == "CONV_2D")
    assert conv.attrs["weight_quantization"]["granularity"] == "per-channel"
    assert conv.attrs["activation"] == "relu6"       # fused
    assert outputs == [records[-1].name]


def _interpreter_figures(path):
    """MACs and weight params of conv/depthwise/FC ops, through LiteRT's own op details."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    macs = params = 0
    for op in it._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w = tensors[op["inputs"][1]]["shape"]
        out = tensors[op["outputs"][0]]["shape"]
        params += int(np.prod(w)) + (int(np.prod(tensors[op["inputs"][2]]["shape"]))
                                     if len(op["inputs"]) > 2 and op["inputs"][2] >= 0 else 0)
        if op["op_name"] == "CONV_2D":
            macs += int(np.prod(out)) * int(np.prod(w[1:]))          # out * kh*kw*cin
        elif op["op_name"] == "DEPTHWISE_CONV_2D":
            macs += int(np.prod(out)) * int(w[1] * w[2])              # out * kh*kw
        else:
            macs += int(np.prod(out)) * int(w[1])
    return macs, params


def test_mobilenet_v2_against_the_interpreter_and_the_paper():
    records, _, info = read_tflite(MNV2)
    macs, params = _interpreter_figures(MNV2)
    assert sum(r.macs for r in records) == macs
    assert sum(r.params for r in records) == params
    # Sandler et al. 2018: 300 M multiply-adds, 3.4 M parameters at 224x224
    assert abs(macs / 1e6 - 300) < 3 and abs(params / 1e6 - 3.47) < 0.05
    assert info["input_shape"] == [3, 224, 224]


def test_corrupt_and_truncated_files(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(ModelFileError, match="not a TFLite flatbuffer"):
        read_tflite(bad)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(PERSON.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="cannot read TFLite model"):
        read_tflite(cut)


@pytest.mark.parametrize(("field", "value"), [("shape", -7), ("shapeSignature", -7),
                                              ("shape", -1)])
def test_a_dimension_out_of_range_is_one_line(tmp_path, field, value):
    """A negative dimension (the schema's int32 holds no larger one) is a broken file,
    refused by name instead of counted (-7 was shown as -896 B of activations); -1 in
    the signature is a dynamic dimension and stays readable."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    def written(dims_of, name):
        model = S.ModelT.InitFromPackedBuf(PERSON.read_bytes(), 0)
        t = model.subgraphs[0].tensors[model.subgraphs[0].outputs[0]]
        dims_of(t)
        fb = flatbuffers.Builder(1024)
        fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
        path = tmp_path / name
        path.write_bytes(bytes(fb.Output()))
        return path

    def broken(t):
        dims = list(getattr(t, field) if getattr(t, field) is not None else t.shape)
        dims[-1] = value
        setattr(t, field, dims)

    with pytest.raises(ModelFileError, match=f"dimension of {value:,} in its"):
        read_tflite(written(broken, "bad.tflite"))
    records, _, _ = read_tflite(written(lambda t: setattr(t, "shapeSignature", [-1, 2]),
                                        "dynamic.tflite"))
    assert records[-1].output_shape == (2,)


def test_a_constant_must_hold_what_its_shape_declares(tmp_path):
    """A weight whose shape claims more than its buffer holds (a filter of 8 x 3 x 3 x 1
    made 8 x 3 x 3 x 10^6) is a broken file, refused in one line, not 72 M params."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT.InitFromPackedBuf(PERSON.read_bytes(), 0)
    sg = model.subgraphs[0]
    (w,) = [t for t in sg.tensors if t.buffer and list(t.shape) == [1, 3, 3, 8]][:1]
    w.shape = [1, 3, 3, 8 * 1_000_000]
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    path = tmp_path / "lie.tflite"
    path.write_bytes(bytes(fb.Output()))
    with pytest.raises(ModelFileError, match=r"declares 72,000,000 int8 elements but its "
                                             r"buffer holds 72 bytes"):
        read_tflite(path)
