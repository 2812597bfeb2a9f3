"""--weights: a zoo model takes the weights of its keras.applications twin, in the Keras 3
and the legacy .h5 layout, and then answers exactly like it; --weights imagenet reads
keras.applications' own cache and never downloads."""

import json

import numpy as np
import pytest

KNOBS = ["mobilenet", "--alpha", "0.25", "--resolution", "128"]


@pytest.fixture(scope="module")
def twin(tmp_path_factory, keras):
    """keras.applications.MobileNet 0.25/128 with non-default weights, saved both ways."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    folder = tmp_path_factory.mktemp("weights")
    app = keras.applications.MobileNet(input_shape=(128, 128, 3), alpha=0.25, weights=None)
    rng = np.random.default_rng(0)
    for w in app.weights:  # moving statistics too, so that nothing is left at its default
        value = rng.normal(0, 0.05, w.shape) + (1.0 if "variance" in w.path else 0.0)
        w.assign(value.astype("float32"))
    app.save_weights(folder / "twin.weights.h5")
    with h5py.File(folder / "mobilenet_2_5_128_tf.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, app)
    x = rng.uniform(-1, 1, (3, 128, 128, 3)).astype("float32")
    return app, folder, x, np.asarray(app(x, training=False))


@pytest.mark.parametrize("layout", ["twin.weights.h5", "mobilenet_2_5_128_tf.h5"])
def test_zoo_model_with_the_twins_weights_answers_identically(cli, twin, tmp_path, layout,
                                                               keras):
    _, folder, x, ref = twin
    out = tmp_path / "m.keras"
    r = cli("build", *KNOBS, "--weights", folder / layout, "-o", out)
    assert r.code == 0, r.err
    model = keras.saving.load_model(out, safe_mode=True)
    assert np.array_equal(np.asarray(model(x, training=False)), ref)


def test_imagenet_comes_from_the_local_keras_cache_only(cli, twin, monkeypatch, tmp_path):
    _, folder, _, _ = twin
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    r = cli("analyze", *KNOBS, "--weights", "imagenet", "--summary")
    assert r.code == 2 and len(r.err_lines) == 1
    assert "mobilenet_2_5_128_tf.h5" in r.err and "never downloads" in r.err
    assert str(tmp_path / "empty" / "models") in r.err
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    (models / "mobilenet_2_5_128_tf.h5").write_bytes(
        (folder / "mobilenet_2_5_128_tf.h5").read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    r = cli("analyze", *KNOBS, "--weights", "imagenet", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["model"]["weights_file"] == str(models / "mobilenet_2_5_128_tf.h5")
    assert d["totals"]["params"] == 475_544


@pytest.mark.parametrize("args, message", [
    (["resnet50", "--weights", "x.h5"], "resnet50 has no keras.applications twin"),
    (["vgg16", "--batch-norm", "--weights", "imagenet"], "drop --batch-norm"),
    (["mobilenet", "--weights", "missing.weights.h5"], "file not found: missing.weights.h5"),
])
def test_weights_refusals_are_one_line(cli, args, message):
    r = cli("analyze", *args)
    assert r.code == 2 and len(r.err_lines) == 1, r.err
    assert message in r.err


def test_export_with_weights_keeps_them(cli, twin, tmp_path):
    _, folder, _, _ = twin
    r = cli("export", *KNOBS, "--weights", folder / "twin.weights.h5", "--format", "tflite",
            "-n", "8", "-o", tmp_path, "--json")
    assert r.code == 0, r.err
    manifest = json.loads(r.out)
    assert manifest["model"]["weights"].startswith("from ")
    assert "untrained" not in manifest["model"]["weights"]
    (art,) = manifest["artifacts"]
    assert art["fidelity"]["top1_agreement"] == 1.0 and art["fidelity"]["cosine"] > 0.9999
