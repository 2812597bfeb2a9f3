"""The grouped-convolution patch of the ONNX export is applied only where it is needed, and
a Keras that moved the patched function gives one clear line; the export cache key follows
the tool versions."""

import pytest

from edgekit.core.errors import EdgekitError


@pytest.fixture(scope="module")
def models(keras):
    def make(groups):
        inputs = keras.Input((8, 8, 4))
        x = keras.layers.Conv2D(4, 3, groups=groups, name="conv")(inputs)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    return {"plain": make(1), "grouped": make(2)}


def test_grouped_conv_detection(models):
    from edgekit.export.converters import has_grouped_conv

    assert not has_grouped_conv(models["plain"])
    assert has_grouped_conv(models["grouped"])


def test_patch_applied_only_to_grouped_models(models, monkeypatch):
    from keras.src.backend.tensorflow import nn as tf_nn

    from edgekit.export import converters

    original = tf_nn.conv
    real_patch = converters.plain_grouped_convs
    seen = []

    class Spy:
        def __init__(self):
            self.cm = real_patch()

        def __enter__(self):
            seen.append(True)
            return self.cm.__enter__()

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    monkeypatch.setattr(converters, "plain_grouped_convs", Spy)
    assert converters.to_onnx_float(models["plain"])
    assert seen == []
    assert converters.to_onnx_float(models["grouped"])
    assert seen == [True]
    assert tf_nn.conv is original          # restored after the export


def test_keras_without_the_patched_function_is_one_line(models, monkeypatch):
    from edgekit.export import converters

    monkeypatch.setattr(converters, "PATCHED_CONV",
                        ("keras.src.backend.tensorflow.nn", "conv_moved_away"))
    assert converters.to_onnx_float(models["plain"])    # not needed: not touched
    with pytest.raises(EdgekitError) as e:
        converters.to_onnx_float(models["grouped"])
    message = str(e.value)
    assert "\n" not in message
    assert "keras.src.backend.tensorflow.nn.conv" in message and "Keras 3." in message


def test_cache_key_changes_with_any_tool_version(monkeypatch, tmp_path):
    from edgekit.export import cache

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    before = cache.entry_dir("mobilenet", "int8")
    real = cache.package_versions

    def newer(packages):
        return {**real(packages), "tf2onnx": "9.9.9"}

    monkeypatch.setattr(cache, "package_versions", newer)
    after = cache.entry_dir("mobilenet", "int8")
    assert before != after and before.parent == after.parent == tmp_path
    assert before.name.startswith("mobilenet-v") and before.name.endswith("-int8")


def _styles(keras):
    """One small network built the ways Keras users build models."""
    def layers():
        return [keras.layers.Conv2D(4, 3, name="conv"), keras.layers.Flatten(name="flat"),
                keras.layers.Dense(5, name="logits"), keras.layers.Softmax(name="probs")]

    seq = keras.Sequential([keras.Input((8, 8, 3)), *layers()], name="seq")
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for layer in layers():
        x = layer(x)
    functional = keras.Model(inputs, x, name="functional")
    inner = keras.Sequential([keras.Input((8, 8, 3)), *layers()], name="inner")
    outer_in = keras.Input((8, 8, 3))
    nested = keras.Model(outer_in, inner(outer_in), name="nested")
    return {"sequential": seq, "functional": functional, "nested": nested}


@pytest.mark.parametrize("style", ["sequential", "functional", "nested"])
def test_every_way_of_building_a_model_converts_to_onnx(keras, tmp_path, style):
    # tf2onnx 1.17's from_keras fails on any Keras 3 Sequential model (KeyError
    # 'keras_tensor_5'): it is converted through a traced call instead, and answers as
    # Keras does, its output named after its last layer
    import numpy as np
    import onnx
    import onnxruntime as ort

    from edgekit.export.converters import to_onnx_float

    model = _styles(keras)[style]
    data = to_onnx_float(model)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 3)).astype(np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, model(x, training=False).numpy(), atol=1e-5)
    names = [o.name for o in onnx.load_from_string(data).graph.output]
    assert style != "sequential" or names == ["probs"]
