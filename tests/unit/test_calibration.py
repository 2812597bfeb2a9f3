import numpy as np
import pytest
from PIL import Image

from edgekit.core.errors import UsageError
from edgekit.export.samples import load_samples, preprocess


def test_preprocess_modes():
    px = np.array([0, 127.5, 255], dtype=np.float32)
    assert np.allclose(preprocess(px, "tf"), [-1, 0, 1])
    assert np.allclose(preprocess(px, "unit"), [0, 0.5, 1])
    assert np.allclose(preprocess(px, "raw"), px)
    rgb = np.full((1, 1, 3), 255, dtype=np.uint8)
    assert np.allclose(preprocess(rgb, "imagenet")[0, 0], (1 - np.array([0.485, 0.456, 0.406]))
                       / np.array([0.229, 0.224, 0.225]))
    with pytest.raises(UsageError, match="--preprocess foo"):
        preprocess(px, "foo")


def test_image_folder_is_resized_and_preprocessed(tmp_path):
    Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "a.png")
    Image.new("L", (10, 30), 0).save(tmp_path / "b.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    s = load_samples(str(tmp_path), (16, 16, 3), 10, "unit")
    assert s.x.shape == (2, 16, 16, 3) and s.x.dtype == np.float32
    assert np.allclose(s.x[0, 8, 8], [1, 0, 0]) and np.allclose(s.x[1], 0)
    gray = load_samples(str(tmp_path), (8, 8, 1), 1, "tf")
    assert gray.x.shape == (1, 8, 8, 1)


def test_bad_folders(tmp_path):
    with pytest.raises(UsageError, match="calibration data not found"):
        load_samples(str(tmp_path / "nope"), (8, 8, 3), 4)
    with pytest.raises(UsageError, match="no images in"):
        load_samples(str(tmp_path), (8, 8, 3), 4)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UsageError, match="cannot read image .*broken.png"):
        load_samples(str(tmp_path), (8, 8, 3), 4)


def test_arrays(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((5, 4, 4, 1), dtype=np.float64))
    s = load_samples(str(tmp_path / "x.npy"), (4, 4, 1), 3)
    assert s.x.shape == (3, 4, 4, 1) and s.x.dtype == np.float32 and s.y is None
    np.savez(tmp_path / "xy.npz", x=np.zeros((6, 4, 4, 1)), y=np.arange(6))
    s = load_samples(str(tmp_path / "xy.npz"), (4, 4, 1), 100)
    assert list(s.y) == list(range(6))
    with pytest.raises(UsageError, match=r"samples have shape \(4, 4, 1\), the model wants "
                                         r"\(8, 8, 3\)"):
        load_samples(str(tmp_path / "x.npy"), (8, 8, 3), 3)
    np.savez(tmp_path / "bad.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(UsageError, match="needs an array named 'x'"):
        load_samples(str(tmp_path / "bad.npz"), (4, 4, 1), 3)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(UsageError, match="cannot read array file"):
        load_samples(str(tmp_path / "junk.npy"), (4, 4, 1), 3)


def test_sample_images_are_real_and_deterministic():
    a = load_samples(None, (32, 32, 3), 6)
    b = load_samples(None, (32, 32, 3), 6)
    assert a.x.shape == (6, 32, 32, 3) and np.array_equal(a.x, b.x)
    assert -1 <= a.x.min() < 0 < a.x.max() <= 1 and not a.synthetic
    assert a.x.std() > 0.2  # photos, not flat noise-free fields
    assert "scikit-learn" in a.source


def test_random_is_flagged_synthetic():
    r = load_samples("random", (8, 8, 3), 4)
    assert r.synthetic and "timing only" in r.source
    with pytest.raises(UsageError, match="must be >= 1"):
        load_samples("random", (8, 8, 3), 0)


def test_calibration_draws_a_seeded_sample_of_the_rows(tmp_path):
    """A file sorted by class: the first 30 rows are one class, a seeded random sample of
    30 sees every class; the same sample every time; all rows when there are fewer."""
    from edgekit.export.samples import pick_rows

    labels = np.repeat(np.arange(10), 50)                 # 500 rows sorted by class
    x = labels[:, None, None, None].astype(np.float32) * np.ones((1, 2, 2, 1), np.float32)
    np.savez(tmp_path / "sorted.npz", x=x, y=labels)
    s = load_samples(str(tmp_path / "sorted.npz"), (2, 2, 1), 30)
    assert len(s.x) == 30 and len(np.unique(s.x[:, 0, 0, 0])) == 10
    assert np.array_equal(s.y, s.x[:, 0, 0, 0].astype(np.int64))   # rows and labels together
    assert "30 samples drawn at random (seed 0) from 500" in s.source
    again = load_samples(str(tmp_path / "sorted.npz"), (2, 2, 1), 30)
    assert np.array_equal(again.x, s.x)
    idx, how = pick_rows(500, 30)
    assert len(set(idx.tolist())) == 30 and list(idx) == sorted(idx)
    idx, how = pick_rows(12, 30)
    assert list(idx) == list(range(12)) and how == "all 12 samples"
    assert "all 500 samples" in load_samples(str(tmp_path / "sorted.npz"), (2, 2, 1),
                                             1000).source


def test_an_image_folder_is_sampled_too(tmp_path):
    for k in range(6):
        Image.new("L", (4, 4), 40 * k).save(tmp_path / f"{k}.png")
    s = load_samples(str(tmp_path), (4, 4, 1), 3, "raw")
    assert len(s.x) == 3 and "3 images drawn at random (seed 0) from 6" in s.source
    assert len(np.unique(s.x[:, 0, 0, 0])) == 3
