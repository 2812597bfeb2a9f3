from edgekit.core.records import LayerRecord, Report


def small_report(batch=1, dtype="float32"):
    layers = [
        LayerRecord(0, "input", "InputLayer", output_shape=(8, 8, 3)),
        LayerRecord(1, "conv", "Conv2D", ["input"], [(8, 8, 3)], (8, 8, 4),
                    params_trainable=3 * 3 * 3 * 4, macs=3 * 3 * 3 * 4 * 64),
        LayerRecord(2, "bn", "BatchNormalization", ["conv"], [(8, 8, 4)], (8, 8, 4),
                    params_trainable=8, params_non_trainable=8, other_ops=2 * 256),
        LayerRecord(3, "flat", "Flatten", ["bn"], [(8, 8, 4)], (256,), alias=True),
        LayerRecord(4, "dense", "Dense", ["flat"], [(256,)], (10,),
                    params_trainable=2570, macs=2560),
    ]
    return Report({"name": "tiny", "source": "test", "format": "keras",
                   "input_shape": [8, 8, 3]}, layers, batch=batch, act_dtype=dtype,
                  outputs=["dense"])


def test_totals_by_hand():
    t = small_report().totals()
    assert t["params"] == 108 + 16 + 2570
    assert t["trainable_params"] == 108 + 8 + 2570 and t["non_trainable_params"] == 8
    assert t["macs"] == 6912 + 2560 and t["flops"] == 2 * (6912 + 2560)
    assert t["weight_bytes"] == {"fp32": 4 * 2694, "fp16": 2 * 2694, "int8": 2694}
    # activations: 192 + 256 + 256 (+ view: 0) + 10 elements, 4 bytes (this assertion
    # used to include the view's 256 elements: the defect fixed by issue 9)
    assert t["activation_bytes_total"] == 4 * (192 + 256 + 256 + 10)
    # peak: conv and bn both live while bn runs -> 512 elements
    assert t["peak_activation_bytes"] == 4 * 512 and t["peak_at_layer"] == "bn"


def test_batch_and_dtype_scale_memory_and_macs():
    t1 = small_report().totals()
    t8 = small_report(batch=8, dtype="int8").totals()
    assert t8["macs"] == 8 * t1["macs"]
    assert t8["peak_activation_bytes"] == 8 * t1["peak_activation_bytes"] // 4
    assert t8["params"] == t1["params"]


def test_json_has_the_documented_keys():
    d = small_report(batch=2).to_dict()
    assert d["schema"] == 1
    assert {"name", "source", "input_shape", "batch"} <= set(d["model"])
    for layer in d["layers"]:
        assert {"name", "op", "output_shape", "params", "macs", "activation_bytes"} <= set(layer)
    assert d["layers"][1]["macs"] == 2 * 6912
    assert d["layers"][3]["activation_bytes"] == 0  # a view
    assert {"params", "trainable_params", "non_trainable_params", "macs", "flops",
            "activation_bytes_total", "peak_activation_bytes", "weight_bytes"} <= set(d["totals"])


def test_per_layer_activation_bytes_add_up_to_the_total():
    for batch, dtype in ((1, "float32"), (3, "int8")):
        d = small_report(batch, dtype).to_dict()
        assert sum(x["activation_bytes"] for x in d["layers"]) == \
            d["totals"]["activation_bytes_total"]
        assert [x["activation_bytes"] for x in d["layers"] if x["alias"]] == [0]
