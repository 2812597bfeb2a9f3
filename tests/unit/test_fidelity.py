import math

import numpy as np

from edgekit.core.fidelity import compare, json_safe


def test_identical_outputs():
    ref = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    m = compare(ref, ref.copy(), labels=np.array([1, 0]))
    assert m["max_abs_err"] == 0 and m["cosine"] == 1.0 and m["top1_agreement"] == 1.0
    assert math.isinf(m["sqnr_db"]) and m["accuracy"] == 1.0
    assert json_safe(m)["sqnr_db"] == "inf"


def test_known_noise():
    ref = np.array([[3.0, 4.0], [0.0, 2.0]])
    out = np.array([[3.0, 3.0], [0.0, 2.0]])   # one element off by 1
    m = compare(ref, out, labels=np.array([0, 1]))
    assert m["max_abs_err"] == 1.0 and m["mean_abs_err"] == 0.25
    assert math.isclose(m["sqnr_db"], 10 * math.log10((9 + 16 + 4) / 1))
    assert math.isclose(m["cosine"], ((9 + 12) / (5 * math.sqrt(18)) + 1) / 2)
    assert m["top1_agreement"] == 0.5        # sample 0 flips from class 1 to class 0
    assert m["accuracy"] == 1.0 and m["reference_accuracy"] == 0.5


# ---- several outputs (issue 29) ------------------------------------------------------------

def _io():
    from edgekit.export.multi_io import ModelIO

    return ModelIO(["img", "aux"], [(4, 4, 1), (3,)], ["label", "box", "marks"],
                   [True, False, False])


def test_per_output_figures_top1_only_on_classification_and_the_worst_named():
    from edgekit.export.multi_io import agreement_ok, output_figures, worst

    rng = np.random.default_rng(0)
    refs = [rng.normal(size=(50, 5)), rng.normal(size=(50, 4)), rng.normal(size=(50, 4))]
    noise = [0.01, 0.3, 0.05]               # the box head degrades most
    outs = [r + rng.normal(0, s, r.shape) for r, s in zip(refs, noise, strict=True)]
    labels = {"marks": rng.integers(0, 4, 50)}          # a labelled head is classified
    figs = output_figures(_io(), refs, outs, labels)
    assert [f["output"] for f in figs] == ["label", "box", "marks"]
    assert [f["kind"] for f in figs] == ["classification", "regression", "classification"]
    assert figs[1]["top1_agreement"] is None and "accuracy" not in figs[1]
    assert figs[2]["accuracy"] == np.mean(outs[2].argmax(1) == labels["marks"])
    for f, r, o in zip(figs, refs, outs, strict=True):      # numpy, independently
        assert math.isclose(f["sqnr_db"], 10 * math.log10(np.sum(r ** 2)
                                                          / np.sum((r - o) ** 2)))
    assert worst(figs)["output"] == "box"
    assert agreement_ok(figs, 0.5)
    assert not agreement_ok(figs, 1.01)


class _Spec:
    def __init__(self, name):
        self.name = name


class _Runner:
    def __init__(self, runtime, ins, outs, sig=None):
        self.runtime, self.label = runtime, "file"
        self.inputs, self.outputs = [_Spec(n) for n in ins], [_Spec(n) for n in outs]
        self._sig = sig

    def signature(self):
        return self._sig


def test_file_outputs_are_put_in_keras_order_by_their_names():
    """LiteRT lists a converted model's outputs in its own order; its signature names them
    output_k in Keras' order (and its inputs by Keras' names); tf2onnx names inputs
    input_k and outputs after their Keras layers."""
    from edgekit.export.multi_io import file_order

    tfl = _Runner("litert", ["serving_default_aux:0", "serving_default_img:0"],
                  ["a", "b", "c"], {"inputs": {"aux": 0, "img": 1},
                                    "outputs": {"output_0": 2, "output_1": 0, "output_2": 1}})
    assert file_order(tfl, _io()) == ([1, 0], [2, 0, 1])
    onnx = _Runner("onnxruntime", ["input_1", "input_0"], ["marks", "label", "box"])
    assert file_order(onnx, _io()) == ([1, 0], [1, 2, 0])
    plain = _Runner("onnxruntime", ["p", "q"], ["x", "y", "z"])      # names say nothing
    assert file_order(plain, _io()) == ([0, 1], [0, 1, 2])
