"""Find, verify or download a dataset.

Looks in --data-dir, $DATAVSMATH_DATA_DIR, the project cache (data/cache/), Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/) and keras' cache, in that order,
and checks shapes, labels, class counts and content hashes.

examples:
  datavsmath data                      # where is Fashion-MNIST, and is it intact?
  datavsmath data --download           # fetch the canonical files if not found (needs internet)
  datavsmath data --dataset mnist --download
"""


def add_arguments(p):
    add_data_arguments(p)


def add_data_arguments(p):
    """The data options shared by every command that loads a dataset."""
    p.add_argument("--dataset", choices=["fashion", "mnist"], default=None,
                   help="dataset (default: the experiment's, Fashion-MNIST)")
    p.add_argument("--data-dir", help="folder holding the four IDX files (gz or raw)")
    p.add_argument("--download", action="store_true",
                   help="download the canonical files into data/cache/ when not found")


def run(args) -> int:
    from ..data import load_dataset

    ds = load_dataset(args.dataset or "fashion", args.data_dir, download=args.download)
    print(f"{ds.name}: {len(ds.y_train)} training and {len(ds.y_test)} test images, verified")
    print(f"source: {ds.source}")
    return 0
