"""Fashion-MNIST (and digit MNIST): find, verify and read the four IDX files.

Search order for the files (first folder that holds all four wins):

1. an explicit ``data_dir`` argument (CLI ``--data-dir``) or ``$DATAVSMATH_DATA_DIR``;
2. the project's cache, ``data/cache/<dataset>/`` (where downloads land);
3. Debian's ``dataset-fashion-mnist`` package, ``/usr/share/datasets/fashion-mnist/``;
4. keras' cache, ``~/.keras/datasets/<dataset>/``;
5. else, with ``download=True``, the canonical mirror into the project cache.

Files may be gzip-compressed or raw. Compressed files differ between mirrors while their
contents do not, so verification hashes the decoded arrays (``data/checksums.json``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

__all__ = [
    "DATASETS",
    "Dataset",
    "DataError",
    "load_dataset",
    "locate_dataset",
    "download_dataset",
    "read_idx",
    "array_sha256",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKSUMS_FILE = PROJECT_ROOT / "data" / "checksums.json"

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

DATASETS = {
    "fashion": {
        "title": "Fashion-MNIST",
        "url": "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "debian": Path("/usr/share/datasets/fashion-mnist"),
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
        "keras": "mnist",
        "class_names": [str(i) for i in range(10)],
    },
}

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
    """The four arrays of an MNIST-style dataset.

    x_train : uint8, shape (60000, 28, 28), grey levels 0..255
    y_train : uint8, shape (60000,), labels 0..9
    x_test  : uint8, shape (10000, 28, 28)
    y_test  : uint8, shape (10000,)
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        return len(DATASETS[self.name]["class_names"])

    @property
    def class_names(self) -> list[str]:
        return list(DATASETS[self.name]["class_names"])


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
    out.append(("keras cache", Path.home() / ".keras" / "datasets" / spec["keras"]))
    return out


def cache_dir(name: str) -> Path:
    """Where downloads of dataset ``name`` are stored."""
    return PROJECT_ROOT / "data" / "cache" / name


def _fix_command(name: str) -> str:
    if name == "fashion":
        return (
            "sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist   "
            "(or, with internet: datavsmath data --download)"
        )
    return f"datavsmath data --dataset {name} --download   (needs internet)"


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
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")


def _expected_checksums(name: str) -> dict[str, str]:
    with open(CHECKSUMS_FILE) as fh:
        return json.load(fh).get(name, {})


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


def load_dataset(
    name: str = "fashion",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    verify: bool = True,
) -> Dataset:
    """Find, read and verify dataset ``name`` ("fashion" or "mnist").

    Returns a :class:`Dataset` of uint8 arrays. Raises :class:`DataError` with the places
    searched and the command that fixes it when the files are missing or corrupt.
    """
    _check_name(name)
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
