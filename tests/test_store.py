"""The results store: atomic, duplicate-free, and R-shaped exports that match the R tables."""

import os
from pathlib import Path

import pandas as pd
import pytest

from datavsmath.training.store import COLUMNS, R_FILES, ResultStore, read_r_csv, read_results, to_r_shape

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r-results"


def record(**kw):
    base = dict(experiment="size", dataset="fashion", model="rf", frac_sample=0.1, frac_damage=0.0,
                damage="none", replicate=0, seed=1, n_train=6000, acc=0.8, auc=0.97)
    return {**base, **kw}


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path):
    store = ResultStore(tmp_path)
    assert store.put(record()) is True
    assert store.put(record(acc=0.1)) is False  # a finished fit is never overwritten or duplicated
    assert store.has(record()) and not store.has(record(replicate=1))
    assert [r["acc"] for r in store.records()] == [0.8]
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_record_being_written_is_not_yet_a_json_file(tmp_path, monkeypatch):
    """A process killed mid-write (or a watcher polling the folder) never sees a partial
    record under the name pattern of finished ones."""
    store = ResultStore(tmp_path)
    seen = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (seen.append(sorted(tmp_path.rglob("*.json"))), real_fsync(fd)))
    store.put(record())
    assert seen == [[]] and len(list(tmp_path.rglob("*.json"))) == 1


def test_leftover_temp_file_of_a_kill_is_ignored(tmp_path):
    store = ResultStore(tmp_path)
    store.put(record())
    (tmp_path / "cells" / "size" / ".tmp-abc.json").write_text('{"trunc')
    assert len(store.records()) == 1


def test_incomplete_record_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        ResultStore(tmp_path).put({"model": "rf"})


@pytest.mark.parametrize("name", [v for v in R_FILES.values() if (R_DIR / v).exists()])
def test_r_tables_round_trip_through_the_tidy_schema(name):
    tidy = read_r_csv(R_DIR / name)
    assert list(tidy.columns) == COLUMNS and len(tidy) == 112
    back = to_r_shape(tidy)
    pd.testing.assert_frame_equal(back, pd.read_csv(R_DIR / name), check_dtype=False)


def test_export_writes_tidy_and_r_shaped(tmp_path):
    store = ResultStore(tmp_path)
    for m in ("cnn", "rf"):
        for s in (0.2, 0.1):
            store.put(record(model=m, frac_sample=s))
    store.put(record(experiment="size_x_damage", model="cnn", frac_damage=0.1, damage="constant"))
    paths = store.export()
    r = pd.read_csv(tmp_path / "r-shaped" / "fashion-data-size-results.csv")
    assert list(r.columns) == ["frac", "exp_name", "acc", "auc"]
    assert list(r.exp_name) == ["rf", "cnn", "rf", "cnn"] and list(r.frac) == [0.1, 0.1, 0.2, 0.2]
    cross = pd.read_csv(tmp_path / "r-shaped" / "fashion-size-x-damage-results.csv")
    assert list(cross.columns) == ["frac_damage", "frac_sample", "exp_name", "acc", "auc"]
    assert len(read_results(tmp_path)) == 5 and len(read_results(paths[0])) == 5


def test_replicates_add_a_column_to_the_r_shape(tmp_path):
    store = ResultStore(tmp_path)
    store.put(record(replicate=0))
    store.put(record(replicate=1))
    assert "replicate" in to_r_shape(store.to_frame()).columns
