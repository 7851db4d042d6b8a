"""The results store: atomic, duplicate-free, and R-shaped exports that match the R tables."""

import errno
import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from datavsmath.training.store import (COLUMNS, R_FILES, ResultStore, check_cell, clean_stale_temps, read_r_csv, read_results,
                              to_r_shape)

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r-results"


def record(**kw):
    """A sound record of an rf fit; n_train follows frac_sample unless given."""
    base = dict(experiment="size", dataset="fashion", model="rf", frac_sample=0.1, frac_damage=0.0,
                damage="none", replicate=0, seed=1, acc=0.8, auc=0.97)
    out = {**base, **kw}
    out.setdefault("n_train", int(60000 * out["frac_sample"] + 1e-9))
    return out


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
    with pytest.raises(ValueError, match="missing or mistyped fields"):
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


# --- verified reads: damaged cells are quarantined, counted missing, refitted ---------------

SHIPPED = Path(__file__).resolve().parents[1] / "results"


def stored_cell(tmp_path, **kw):
    messages = []
    store = ResultStore(tmp_path, on_damaged=messages.append)
    store.put(record(**kw))
    return store, next((tmp_path / "cells").rglob("*.json")), messages


@pytest.mark.parametrize("damage", ["truncated", "checksum", "schema", "wrong file", "binary"])
def test_a_damaged_cell_is_reported_once_quarantined_and_missing(tmp_path, damage):
    store, path, messages = stored_cell(tmp_path)
    text = path.read_text()
    if damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "checksum":  # an edit that keeps the JSON valid
        path.write_text(text.replace('"acc": 0.8', '"acc": 0.9'))
    elif damage == "schema":
        path.write_text(json.dumps({k: v for k, v in json.loads(text).items() if k not in ("acc", "sha256")}))
    elif damage == "wrong file":  # a sound record under another cell's name
        path.rename(path.with_name(path.name.replace("_r0", "_r1")))
        path = path.with_name(path.name.replace("_r0", "_r1"))
    else:
        path.write_bytes(b"\xff\xfe\x00garbage")
    assert store.records() == [] and not store.has(record())
    assert store.records() == []  # reported once, not on every read
    assert len(messages) == 1 and str(path) in messages[0] and "quarantine" in messages[0]
    assert not path.exists() and len(list((tmp_path / "quarantine").rglob("*.json"))) == 1
    assert store.put(record()) is True and [r["acc"] for r in store.records()] == [0.8]  # refitted


#: values no fit produces, each with the words of the report that names it
BAD_VALUES = [("acc", 1.7, "acc 1.7 is outside [0, 1]"), ("acc", -3.0, "acc -3.0 is outside [0, 1]"),
              ("acc", float("nan"), "acc nan is outside"), ("auc", float("inf"), "auc inf is outside"),
              ("auc", "0.9", "mistyped fields ['auc']"), ("n_train", -5, "n_train must be an integer of at least 1"),
              ("n_train", 6001, "n_train 6001 does not match frac_sample 0.1"),
              ("n_train", 6000.0, "n_train must be an integer"), ("seed", "abc", "seed must be an integer"),
              ("replicate", -1, "replicate must be an integer of at least 0"),
              ("recipe", 0, "recipe must be an integer of at least 1"), ("frac_sample", 0.0, "frac_sample 0.0 is outside (0, 1]"),
              ("frac_damage", 1.5, "frac_damage 1.5 is outside [0, 1]"), ("fit_seconds", -1.0, "fit_seconds -1.0 is outside"),
              ("dataset", "", "dataset is empty")]


@pytest.mark.parametrize("with_checksum", [True, False], ids=["checksum", "no-checksum"])
@pytest.mark.parametrize("key, value, problem", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_a_cell_with_an_impossible_value_is_quarantined_with_or_without_checksum(tmp_path, key, value, problem,
                                                                                 with_checksum):
    """A checksum proves a record unchanged, not sound: a value no fit gives (written by a bug
    or an edit that recomputed the checksum) is quarantined, named, and its fit retrained."""
    from datavsmath.training.store import checksum

    store, path, messages = stored_cell(tmp_path)
    body = {k: v for k, v in json.loads(path.read_text()).items() if k != "sha256"}
    body[key] = value
    if with_checksum:
        body["sha256"] = checksum(body)
    path.write_text(json.dumps(body))
    assert check_cell(path, path.read_text())[1] is not None
    assert store.records() == [] and not store.has(record())
    assert len(messages) == 1 and str(path) in messages[0] and problem in messages[0], messages
    assert "quarantine" in messages[0] and not path.exists()
    assert store.put(record()) is True and [r["acc"] for r in store.records()] == [0.8]  # retrained


@pytest.mark.parametrize("key, value, problem", BAD_VALUES[:4], ids=[k for k, *_ in BAD_VALUES[:4]])
def test_put_refuses_a_value_no_fit_gives(tmp_path, key, value, problem):
    """Stored, such a record would be quarantined and retrained on every run."""
    with pytest.raises(ValueError, match="not stored"):
        ResultStore(tmp_path).put(record(**{key: value}))
    assert not (tmp_path / "cells").exists() or not list((tmp_path / "cells").rglob("*.json"))


def test_cells_carry_a_checksum_that_is_not_a_column(tmp_path):
    store, path, _ = stored_cell(tmp_path)
    assert len(json.loads(path.read_text())["sha256"]) == 64
    assert "sha256" not in store.to_frame().columns


def test_a_legacy_cell_without_checksum_still_reads(tmp_path):
    store, path, messages = stored_cell(tmp_path)
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "sha256"}))
    assert [r["acc"] for r in store.records()] == [0.8] and store.has(record()) and not messages


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_shipped_cell_passes_verification(profile):
    """Checked without a store, which would move a damaged one: the shipped cells (written
    before checksums) must read as they are, never be rewritten."""
    files = sorted((SHIPPED / profile / "cells").rglob("*.json"))
    problems = {f: check_cell(f, f.read_text())[1] for f in files}
    assert files and not {f: p for f, p in problems.items() if p}


def test_a_damaged_cell_in_a_read_only_place_is_skipped_and_left(tmp_path, monkeypatch):
    store, path, messages = stored_cell(tmp_path)
    path.write_text("{")

    def refuse(*a):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    assert store.records() == [] and store.records() == [] and path.exists()
    assert len(messages) == 1 and "left in place" in messages[0]


def test_read_results_and_export_skip_a_damaged_cell(tmp_path):
    store, path, _ = stored_cell(tmp_path)
    store.put(record(model="cnn"))
    path.write_text('{"trunc')
    assert list(read_results(tmp_path)["model"]) == ["cnn"]
    ResultStore(tmp_path).export()
    assert list(pd.read_csv(tmp_path / "results.csv")["model"]) == ["cnn"]


# --- atomic, shareable files ----------------------------------------------------------------

def test_cells_and_exports_are_created_0644(tmp_path):
    old = os.umask(0o022)
    try:
        store, path, _ = stored_cell(tmp_path)
        paths = store.export()
    finally:
        os.umask(old)
    for p in [path, *paths]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    """A full disk mid-export: results.csv keeps its previous content, nothing half-written
    and no temporary file is left behind."""
    store, _, _ = stored_cell(tmp_path)
    store.export()
    before = (tmp_path / "results.csv").read_text()
    store.put(record(model="cnn"))

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        store.export()
    with pytest.raises(OSError, match="No space"):
        store.put(record(model="xgb"))
    assert (tmp_path / "results.csv").read_text() == before
    assert not list(tmp_path.rglob(".tmp-*")) and len(store.records()) == 2


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    store, path, _ = stored_cell(tmp_path)
    dead = _dead_pid()
    host = socket.gethostname()
    stale = path.parent / f".tmp-{host}-{dead}-abc123.part"
    live = path.parent / f".tmp-{host}-{os.getpid()}-abc123.part"
    foreign = path.parent / f".tmp-elsewhere-{dead}-abc123.part"
    legacy = path.parent / ".tmp-abc123.part"
    for f in (stale, live, foreign, legacy):
        f.write_text("{")
    assert clean_stale_temps(tmp_path) == [stale]
    assert live.exists() and foreign.exists() and legacy.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_r_shaped_csvs_of_a_preview_say_so_and_read_back(tmp_path):
    tidy = pd.DataFrame([{"experiment": "size", "dataset": "fashion", "model": m, "frac_sample": 0.1,
                          "frac_damage": 0.0, "replicate": 0, "acc": 0.8, "auc": 0.97, "profile": "quick"}
                         for m in ("rf", "cnn")])
    shaped = to_r_shape(tidy)
    assert list(shaped.columns) == ["frac", "exp_name", "acc", "auc", "preview"]
    assert shaped["preview"].str.startswith("QUICK PREVIEW").all()
    assert "preview" not in to_r_shape(tidy.assign(profile="full")).columns
    path = tmp_path / "fashion-data-size-results.csv"
    shaped.to_csv(path, index=False)
    back = read_r_csv(path)
    assert list(back["model"]) == ["rf", "cnn"] and back["acc"].tolist() == [0.8, 0.8]


def test_a_fit_of_an_older_recipe_is_replaced_one_of_the_same_recipe_is_not(tmp_path):
    store = ResultStore(tmp_path)
    assert store.put(record(model="dnn", acc=0.5))  # no recipe field: written before recipes, recipe 1
    assert store.put(record(model="dnn", acc=0.6, recipe=1)) is False
    assert store.put(record(model="dnn", acc=0.7, recipe=2)) is True  # a newer recipe replaces it
    assert store.put(record(model="dnn", acc=0.8, recipe=2)) is False
    assert store.put(record(model="dnn", acc=0.9, recipe=1)) is False  # never back to an older one
    assert [(r["acc"], r["recipe"]) for r in store.records()] == [(0.7, 2)]
    assert not list(tmp_path.rglob(".tmp-*"))


def test_recipes_are_read_checked_and_labelled(tmp_path):
    from datavsmath.training.store import outdated, record_recipe

    store = ResultStore(tmp_path)
    done = "2026-01-01T00:00:00+00:00"
    store.put(record(model="dnn", finished_at=done))
    store.put(record(model="dnn", frac_sample=0.2, recipe=2, finished_at=done))
    store.put(record(model="rf", finished_at=done))
    df = store.to_frame()
    assert list(df["recipe"]) == [1, 1, 2]  # sorted by cell: dnn 0.1, rf 0.1, dnn 0.2
    assert list(outdated(df)) == [True, False, False]  # rf's recipe is still 1
    assert list(outdated(df.drop(columns="recipe"))) == [True, False, True]
    assert not outdated(df.assign(finished_at=None)).any()  # R's own fits carry no recipe
    assert not outdated(read_r_csv(R_DIR / "fashion-data-size-results.csv")).any()
    assert record_recipe({}) == 1 and record_recipe({"recipe": 3}) == 3
    path = tmp_path / "cells" / "size" / "fashion_rf_s0.1_d0.0_r0.json"
    body = json.loads(path.read_text())
    body.update(recipe="two")
    body.pop("sha256")
    assert check_cell(path, json.dumps(body))[1] == "recipe must be an integer of at least 1, got 'two'"


def test_fits_of_an_older_network_recipe_are_pending_trees_are_not(tmp_path):
    from datavsmath.experiments import load_experiment
    from datavsmath.training.units import describe_outdated, outdated_fits, pending_fits

    exp = load_experiment("size", "smoke")  # rf and dnn at two fractions
    store = ResultStore(tmp_path)
    for cell in exp.cells():
        for model in exp.models:  # as stored before recipes were recorded
            store.put(record(model=model, frac_sample=cell.frac_sample, seed=cell.seed, n_train=cell.n_train))
    todo = pending_fits(exp, store)
    assert [(c.frac_sample, ms) for c, ms in todo] == [(s, ["dnn"]) for s in exp.frac_sample]
    assert outdated_fits(exp, store) == {"dnn": 2}
    assert describe_outdated({"dnn": 2}) == "2 dnn stored under an older model recipe (current: dnn 2)"
    cell = exp.cells()[0]
    store.put(record(model="dnn", frac_sample=cell.frac_sample, recipe=2))
    assert outdated_fits(exp, store) == {"dnn": 1} and len(pending_fits(exp, store)) == 1


def test_an_older_recipe_declared_equivalent_counts_as_current_only_on_its_backend(tmp_path):
    """The CNN's recipe 1 is the current computation on JAX (``ModelSpec.same_as``), not on
    TensorFlow nor where the record does not say; the DNN's recipe 1 never is."""
    from datavsmath.models import ModelSpec
    from datavsmath.training.store import effective_recipe, outdated, record_backend

    done = "2026-01-01T00:00:00+00:00"
    on = {b: json.dumps({"keras_backend": b}) for b in ("jax", "tensorflow")}
    rows = [record(model="cnn", recipe=1, versions=on["jax"], finished_at=done),
            record(model="cnn", recipe=1, versions=on["tensorflow"], finished_at=done),
            record(model="cnn", recipe=1, finished_at=done),
            record(model="dnn", recipe=1, versions=on["jax"], finished_at=done),
            record(model="cnn", recipe=2, versions=on["tensorflow"], finished_at=done)]
    assert [effective_recipe(r) for r in rows] == [2, 1, 1, 1, 2]
    assert list(outdated(pd.DataFrame(rows))) == [False, True, True, True, False]
    assert record_backend({"versions": {"keras_backend": "jax"}}) == "jax"
    assert record_backend({"versions": "not json"}) is None and record_backend({}) is None
    # the store keeps an equivalent fit and does not replace it by a retrained one
    store = ResultStore(tmp_path)
    assert store.put(rows[0]) and store.put({**rows[4], "acc": 0.1}) is False
    with pytest.raises(ValueError, match="not older than the current recipe 2"):
        ModelSpec("x", lambda seed, k: None, 1.0, "", recipe=2, same_as={2: ("jax",)})
