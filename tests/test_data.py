"""Reading, locating, verifying and downloading the IDX files (real Fashion-MNIST)."""

import gzip
import shutil

import numpy as np
import pytest

from datavsmath import data as data_mod
from datavsmath.data import FILES, DataError, array_sha256, load_dataset, locate_dataset, read_idx
from datavsmath.idx import expected_checksums


def test_real_fashion_mnist_verifies(fashion):
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_train.dtype == np.uint8
    assert fashion.x_test.shape == (10000, 28, 28)
    assert np.all(np.bincount(fashion.y_train) == 6000) and np.all(np.bincount(fashion.y_test) == 1000)
    assert fashion.class_names[5] == "Sandal"


@pytest.fixture
def copy_dir(tmp_path, fashion):
    _, src = locate_dataset("fashion")
    dst = tmp_path / "fm"
    dst.mkdir()
    for stem in FILES.values():
        f = src / (stem + ".gz") if (src / (stem + ".gz")).exists() else src / stem
        shutil.copy(f, dst / f.name)
    return dst


def test_raw_and_gzip_read_the_same(copy_dir):
    gz = copy_dir / "t10k-labels-idx1-ubyte.gz"
    raw = copy_dir / "raw-labels"
    raw.write_bytes(gzip.decompress(gz.read_bytes()))
    np.testing.assert_array_equal(read_idx(gz), read_idx(raw))


def test_truncated_and_foreign_files_fail_clearly(tmp_path, copy_dir):
    body = gzip.decompress((copy_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "short").write_bytes(body[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_missing_data_lists_places_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(DataError) as err:
        load_dataset("fashion", tmp_path)
    assert str(tmp_path) in str(err.value) and "apt-get install -y dataset-fashion-mnist" in str(err.value)


def test_corrupt_content_fails_verification(copy_dir):
    path = copy_dir / "train-labels-idx1-ubyte.gz"
    labels = bytearray(gzip.decompress(path.read_bytes()))
    labels[8], labels[9] = labels[9], labels[8]  # same counts, different content
    path.write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(DataError, match="SHA-256"):
        load_dataset("fashion", copy_dir)
    assert load_dataset("fashion", copy_dir, verify=False).y_train.shape == (60000,)


def test_download_checks_content_before_saving(tmp_path, copy_dir, monkeypatch):
    # a local mirror stands in for the canonical URL (no internet in tests)
    monkeypatch.setitem(data_mod.DATASETS["fashion"], "url", copy_dir.as_uri() + "/")
    dest = data_mod.download_dataset("fashion", tmp_path / "cache")
    ds = load_dataset("fashion", dest)
    assert array_sha256(ds.y_test) == expected_checksums("fashion")["y_test"]
    bad = tmp_path / "badmirror"
    shutil.copytree(copy_dir, bad)
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x02\x01\x02"))
    monkeypatch.setitem(data_mod.DATASETS["fashion"], "url", bad.as_uri() + "/")
    with pytest.raises(DataError, match="does not match"):
        data_mod.download_dataset("fashion", tmp_path / "cache2")
    assert not (tmp_path / "cache2" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "cache2").glob("*.part"))


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar': give one of fashion, mnist, digits"):
        load_dataset("cifar")
