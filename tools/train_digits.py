#!/usr/bin/env python3
"""A small CNN trained for a few seconds on scikit-learn's digits (real data, no download):
the trained model that shows what `edgekit export --int8` keeps. Used by `make demo` and by
the export tests.

    .venv/bin/python tools/train_digits.py OUT_DIR [--outlier]

writes OUT_DIR/digits.keras, OUT_DIR/train.npz (x: calibration inputs) and OUT_DIR/test.npz
(x, y: 497 held-out digits for --validation). With --outlier, also
OUT_DIR/digits_outlier.keras: the same model with one output channel of conv2 scaled up
1000 times and the depthwise convolution after it scaled down to compensate (the same
float answers; a range that int8 cannot hold: the per-layer walkthrough of the README).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def digits_split(seed: int = 0):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]   # 1797 x 8 x 8 x 1, range 0..1
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    train, test = idx[:1300], idx[1300:]
    return x[train], y[train], x[test], y[test]


def train_digits_cnn(path, epochs: int = 25, seed: int = 0):
    """Train, save to ``path`` (.keras), return (x_train, y_train, x_test, y_test)."""
    from edgekit._tf import keras

    keras.utils.set_random_seed(seed)
    x_tr, y_tr, x_te, y_te = digits_split(seed)
    L = keras.layers
    inp = keras.Input((8, 8, 1), name="digits")
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.Conv2D(32, 3, padding="same", name="conv2")(h)
    h = L.BatchNormalization(name="conv2_bn")(h)
    h = L.ReLU(name="conv2_relu")(h)
    h = L.DepthwiseConv2D(3, padding="same", name="dw")(h)
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.Conv2D(64, 1, activation="relu", name="pw")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    out = L.Dense(10, activation="softmax", name="predictions")(h)
    model = keras.Model(inp, out, name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return x_tr, y_tr, x_te, y_te


def digit_geometry(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets computed from the pixels themselves: the ink's bounding box (top, left,
    bottom, right; 0..1) and landmark-like points (the ink's centre of mass, and the
    brightest pixel's position; y, x in 0..1) of each (N, 8, 8, 1) digit."""
    img = x[..., 0]
    n, h, w = img.shape
    ink = img > 0.25
    rows_, cols_ = ink.any(axis=2), ink.any(axis=1)
    box = np.stack([rows_.argmax(1), cols_.argmax(1), h - 1 - rows_[:, ::-1].argmax(1),
                    w - 1 - cols_[:, ::-1].argmax(1)], axis=1) / (h - 1)
    yy, xx = np.mgrid[0:h, 0:w] / (h - 1)
    mass = img.sum(axis=(1, 2)) + 1e-6
    centre = np.stack([(img * yy).sum((1, 2)) / mass, (img * xx).sum((1, 2)) / mass], 1)
    top = img.reshape(n, -1).argmax(1)
    bright = np.stack([top // w, top % w], 1) / (h - 1)
    return box.astype(np.float32), np.concatenate([centre, bright], 1).astype(np.float32)


def train_digits_multihead(path, epochs: int = 12, seed: int = 0):
    """A two-input, three-head network trained on the digits, saved to ``path``: inputs
    ``digits`` (8x8x1) and ``profile`` (the 8 column means of the image); heads ``label``
    (softmax over 10 classes), ``box`` (4 numbers) and ``landmarks`` (4 numbers), the
    targets from :func:`digit_geometry`. Returns (train, test), each a dict of arrays:
    digits, profile, y_label, box, landmarks."""
    from edgekit._tf import keras

    keras.utils.set_random_seed(seed)
    x_tr, y_tr, x_te, y_te = digits_split(seed)

    def arrays(x, y):
        box, marks = digit_geometry(x)
        return {"digits": x, "profile": x[..., 0].mean(axis=1), "y_label": y, "box": box,
                "landmarks": marks}

    train, test = arrays(x_tr, y_tr), arrays(x_te, y_te)
    L = keras.layers
    img = keras.Input((8, 8, 1), name="digits")
    prof = keras.Input((8,), name="profile")
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(img)
    h = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    p = L.Dense(16, activation="relu", name="profile_fc")(prof)
    h = L.Concatenate(name="joined")([h, p])
    h = L.Dense(64, activation="relu", name="trunk")(h)
    label = L.Dense(10, activation="softmax", name="label")(h)
    box = L.Dense(4, name="box")(h)
    marks = L.Dense(4, name="landmarks")(h)
    model = keras.Model([img, prof], [label, box, marks], name="digits_multihead")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=["sparse_categorical_crossentropy", "mse", "mse"])
    model.fit([train["digits"], train["profile"]],
              [train["y_label"], train["box"], train["landmarks"]],
              epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return train, test


def inject_outlier(model, x, factor: float = 1000.0) -> int:
    """Scale one output channel of conv2 (through its batch norm's gamma and beta, so the
    fused convolution's channel grows) by ``factor`` and the depthwise convolution's
    weights on that channel down by the same: the ReLU between them is positively
    homogeneous, so the float model answers as before, but that channel's range is
    ``factor`` times the others'. The channel is the most active one on ``x``. Returns it."""
    from edgekit._tf import keras

    probe = keras.Model(model.inputs, model.get_layer("conv2_relu").output)
    channel = int(np.argmax(np.asarray(probe(x[:64])).mean(axis=(0, 1, 2))))
    bn = model.get_layer("conv2_bn")
    gamma, beta, mean, var = bn.get_weights()
    gamma[channel] *= factor
    beta[channel] *= factor
    bn.set_weights([gamma, beta, mean, var])
    dw = model.get_layer("dw")
    kernel, bias = dw.get_weights()
    kernel[:, :, channel, :] /= factor
    dw.set_weights([kernel, bias])
    return channel


def main() -> None:
    args = sys.argv[1:]
    outlier = "--outlier" in args
    args = [a for a in args if a != "--outlier"]
    if len(args) != 1:
        raise SystemExit("usage: train_digits.py OUT_DIR [--outlier]")
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr, x_te, y_te = train_digits_cnn(out / "digits.keras")
    np.savez(out / "train.npz", x=x_tr)
    np.savez(out / "test.npz", x=x_te, y=y_te)
    print(f"trained on {len(x_tr)} digits; wrote {out}/digits.keras, train.npz, test.npz")
    if outlier:
        from edgekit._tf import keras

        model = keras.models.load_model(out / "digits.keras")
        channel = inject_outlier(model, x_tr)
        model.save(out / "digits_outlier.keras")
        print(f"wrote {out}/digits_outlier.keras (conv2 channel {channel} x1000, dw / 1000)")


if __name__ == "__main__":
    main()
