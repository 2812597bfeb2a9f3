"""The Keras reader on small hand-built models whose numbers are computed by hand."""

import pytest

from edgekit.core.records import Report
from edgekit.readers.keras_reader import read_keras_model
from edgekit.zoo.registry import REGISTRY


def report_of(model, batch=1):
    records, outputs = read_keras_model(model)
    return Report({"name": model.name, "source": "test", "format": "keras",
                   "input_shape": list(records[0].output_shape)}, records, batch=batch,
                  outputs=outputs)


def test_functional_residual_model_by_hand(keras):
    L = keras.layers
    x_in = keras.Input((16, 16, 8), name="x")
    a = L.Conv2D(8, 3, padding="same", use_bias=False, name="a")(x_in)
    b = L.BatchNormalization(name="b")(a)
    c = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="c")(b)
    d = L.Conv2D(8, 1, groups=2, name="d")(c)
    s = L.Add(name="s")([d, x_in])
    g = L.GlobalAveragePooling2D(name="g")(s)
    y = L.Dense(10, activation="softmax", name="y")(g)
    r = report_of(keras.Model(x_in, y))
    by = {rec.name: rec for rec in r.layers}
    assert by["a"].macs == 3 * 3 * 8 * 8 * 256
    assert by["c"].macs == 3 * 3 * 8 * 2 * 256 and by["c"].output_shape == (16, 16, 16)
    assert by["d"].macs == 1 * 1 * (16 // 2) * 8 * 256
    assert by["y"].macs == 8 * 10
    assert by["b"].params_trainable == 16 and by["b"].params_non_trainable == 16
    assert by["s"].inputs == ["d", "x"] and by["s"].other_ops == 2048
    assert by["d"].other_ops == 2048  # bias adds
    assert by["y"].other_ops == 10 + 10  # bias + softmax
    # liveness: x (2048 el.) stays alive to the add; while c runs x, b, c are live (and
    # while d runs x, c, d: the same bytes); the first step at the peak is reported
    t = r.totals()
    assert t["peak_activation_bytes"] == 4 * (2048 + 2048 + 4096)
    assert t["peak_at_layer"] == "c"
    assert t["params"] == sum(w.numpy().size for w in keras.Model(x_in, y).weights)


def test_sequential_model_gets_its_input(keras):
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(32), keras.layers.Dense(10)])
    r = report_of(m)
    assert r.layers[0].op == "InputLayer" and r.layers[1].inputs == [r.layers[0].name]
    assert r.totals()["macs"] == 784 * 32 + 32 * 10
    assert r.layers[1].alias  # flatten is a view


def test_separable_and_dense_on_sequences(keras):
    L = keras.layers
    x_in = keras.Input((10, 10, 4))
    s = L.SeparableConv2D(6, 3, name="sep", use_bias=False)(x_in)      # 8x8 output
    seq = L.Reshape((64, 6), name="seq")(s)
    y = L.Dense(5, use_bias=False, name="dense_seq")(seq)              # applied at 64 positions
    r = report_of(keras.Model(x_in, y))
    by = {rec.name: rec for rec in r.layers}
    assert by["sep"].macs == 9 * 4 * 64 + 4 * 6 * 64
    assert by["dense_seq"].macs == 6 * 5 * 64


def test_unknown_layers_are_listed_not_counted(keras):
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    x_in = keras.Input((4,))
    r = report_of(keras.Model(x_in, Scale(name="scale")(x_in)))
    assert r.layers[-1].name == "scale" and not r.layers[-1].counted
    assert r.totals()["uncounted_layers"] == ["scale"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_zoo_model_layers_add_up_to_the_total(name):
    """Per-layer activation bytes (views 0) add up to the total, for every zoo model."""
    from edgekit.services.analyze import analyze
    from edgekit.services.targets import resolve_target
    from edgekit.zoo import registry

    entry = registry.get(name)
    knobs = {}
    res = entry.knob("resolution")
    if res is not None:
        knobs["resolution"] = int(res.minimum)
    if entry.knob("classes") is not None:
        knobs["classes"] = 10
    d = analyze(resolve_target(name, knobs), batch=2).to_dict()
    assert sum(x["activation_bytes"] for x in d["layers"]) == \
        d["totals"]["activation_bytes_total"]
    views = [x for x in d["layers"] if x["alias"]]
    assert all(x["activation_bytes"] == 0 for x in views)
