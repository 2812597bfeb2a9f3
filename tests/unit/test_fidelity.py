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
