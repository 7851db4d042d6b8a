"""The shipped results folders are what they claim: every stored fit is a cell of its profile's
grid, once, with the seed derived for it, in range and with the schema; a folder whose
provenance says complete holds every fit of its profile. Runs on results/quick and, when
present, results/full (which may be partial while its xgboost fits are computed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datavsmath.errors import UserError
from datavsmath.experiments import R_EXPERIMENTS, experiment_names, load_experiment
from datavsmath.training.store import COLUMNS, ResultStore

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = [p for p in (ROOT / "results" / "quick", ROOT / "results" / "full") if (p / "cells").is_dir()]
# noise_rule: the damage rule of a cell of an experiment with several ("" elsewhere)
KEY = ["experiment", "dataset", "model", "frac_sample", "frac_damage", "replicate", "selection", "noise_rule"]


@pytest.fixture(scope="module", params=FOLDERS, ids=[p.name for p in FOLDERS])
def shipped(request):
    folder = request.param
    prov = json.loads((folder / "provenance.json").read_text())
    df = ResultStore(folder).to_frame()
    # a fit without a selection (every experiment but pruning) drew its rows at random
    df = df.assign(selection=df["selection"].fillna("random") if "selection" in df else "random")
    return folder, prov, df.assign(noise_rule=df["noise_rule"].fillna("") if "noise_rule" in df else "")


def _grid(profile: str, dataset: str = "fashion") -> pd.DataFrame:
    """Every fit of the profile's grid at any replicate, with its derived seed and rows."""
    rows = []
    for name in experiment_names():
        try:
            exp = load_experiment(name, profile).with_options(replicates=5, dataset=dataset)
        except UserError:  # its models were pretrained on this dataset: the grid has no cells here
            continue
        for cell in exp.cells():
            for model in exp.models:
                rows.append({"experiment": name, "dataset": dataset, "model": model,
                             "frac_sample": round(cell.frac_sample, 6), "frac_damage": round(cell.frac_damage, 6),
                             "replicate": cell.replicate, "selection": cell.selection, "noise_rule": cell.rule,
                             "grid_seed": cell.seed, "grid_n_train": cell.n_train})
    return pd.DataFrame(rows)


def _grids(profile: str, df: pd.DataFrame) -> pd.DataFrame:
    """:func:`_grid` of every dataset the folder holds (Fashion-MNIST, and digit MNIST's size run)."""
    return pd.concat([_grid(profile, d) for d in sorted(df["dataset"].unique())], ignore_index=True)


def _rounded(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(frac_sample=df["frac_sample"].round(6), frac_damage=df["frac_damage"].round(6))


def test_schema_and_values(shipped):
    folder, prov, df = shipped
    assert len(df) > 0
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    assert df[["acc", "auc"]].notna().all().all()
    assert df["acc"].between(0, 1).all() and df["auc"].between(0, 1).all()
    assert (df["fit_seconds"] >= 0).all() and (df["n_train"] > 0).all()
    assert (df["profile"] == prov["profile"]).all()
    for versions in df["versions"].unique():  # every fit says which libraries made it
        assert {"python", "numpy", "keras", "scikit-learn"} <= set(json.loads(versions))


def test_every_fit_is_a_grid_cell_stored_once_with_its_derived_seed(shipped):
    folder, prov, df = shipped
    df = _rounded(df)
    assert not df.duplicated(KEY).any(), df[df.duplicated(KEY, keep=False)][KEY]
    merged = df.merge(_grids(prov["profile"], df), on=KEY, how="left", indicator=True)
    stray = merged[merged["_merge"] == "left_only"]
    assert stray.empty, f"fits outside the {prov['profile']} grid:\n{stray[KEY]}"
    assert (merged["seed"] == merged["grid_seed"]).all()
    assert (merged["n_train"] == merged["grid_n_train"]).all()


def test_counts_per_experiment_model_and_replicate(shipped):
    """Replicates are filled in order (replicate 0 first everywhere); a folder called complete
    holds every fit of replicate 0 of R's four experiments (the experiments beyond R have their
    own runs)."""
    folder, prov, df = shipped
    df = _rounded(df)
    grid = _grid(prov["profile"])  # complete means every Fashion-MNIST fit of R's four grids
    grid0 = grid[grid["replicate"] == 0]
    have0 = df[df["replicate"] == 0].merge(grid0, on=KEY)
    counts = have0.groupby(["experiment", "model"]).size()
    expected = grid0.groupby(["experiment", "model"]).size()
    for key, n in counts.items():
        assert n <= expected[key]
    if prov.get("complete"):
        r_grids = expected[expected.index.get_level_values("experiment").isin(R_EXPERIMENTS)]
        assert counts.reindex(r_grids.index).fillna(0).astype(int).equals(r_grids)
    for (dataset, exp, model), part in df.groupby(["dataset", "experiment", "model"]):
        reps = sorted(part["replicate"].unique())
        assert reps == list(range(len(reps))), f"{dataset} {exp} {model}: replicates {reps} skip one"


def test_the_full_reproduction_holds_replicate_0_of_every_fit():
    """What the README states of results/full: replicate 0 of every cell of the four
    experiments, all four models (504 fits)."""
    folder = ROOT / "results" / "full"
    if not (folder / "cells").is_dir():
        pytest.skip("no results/full in this checkout")
    df = ResultStore(folder).to_frame()
    df = df.assign(noise_rule=df["noise_rule"].fillna("") if "noise_rule" in df else "")
    df = _rounded(df.assign(selection=df["selection"].fillna("random") if "selection" in df else "random"))
    grid = _grid("full")
    want = grid[(grid["replicate"] == 0) & grid["experiment"].isin(R_EXPERIMENTS)]
    have = want.merge(df, on=KEY, how="left", indicator=True)
    missing = have[have["_merge"] == "left_only"]
    assert missing.empty, missing[KEY]
    assert len(want) == 504 and np.isin(R_EXPERIMENTS, df["experiment"].unique()).all()
