"""`datavsmath verify`: retrains stored cells as they were stored and checks them within the
reproducibility envelope; never writes into the folder it checks."""

import json
import math
import shutil

import pytest

from datavsmath.cli import main
from datavsmath.errors import UserError
from datavsmath.training.envelope import SEED_SD, TOLERANCE_K, Envelope, envelope_for
from datavsmath.training.store import checksum
from datavsmath.training.verify import choose_cells

RF = "size/fashion_rf_s0.01_d0.0_r0"
DNN = "size/fashion_dnn_s0.005_d0.0_r0"


@pytest.fixture(scope="module")
def smoke_folder(tmp_path_factory, fashion_installed):
    """The smoke size grid (rf and dnn at 300 and 600 rows), run once here."""
    out = tmp_path_factory.mktemp("verify") / "res"
    assert main(["run", "size", "--profile", "smoke", str(out), "--no-progress"]) == 0
    return out


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def verify_json(capsys, *args):
    capsys.readouterr()
    rc = main(["verify", *map(str, args), "--json"])
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.smoke
def test_a_stored_forest_and_network_verify_bit_exactly_and_nothing_is_written(smoke_folder, capsys):
    before = snapshot(smoke_folder)
    rc, out = verify_json(capsys, smoke_folder, "--cells", RF, DNN + ".json")
    assert rc == 0 and out["passed"] is True
    cells = {c["cell"]: c for c in out["cells"]}
    assert set(cells) == {RF, DNN}
    for c in cells.values():  # same command, same machine: bit for bit, trees and networks
        assert c["ok"] and c["envelope"]["kind"] == "exact"
        assert c["new"] == c["stored"] and c["diff"] == {"acc": 0, "auc": 0}
    # the DNN was stored from a fused unit of both fractions, and retrained as that unit
    assert cells[DNN]["unit_source"] == "recorded"
    assert sorted(cells[DNN]["unit"].split()) == ["s0.005_d0.0_r0", "s0.01_d0.0_r0"]
    assert snapshot(smoke_folder) == before


def tamper(folder, cell, change):
    path = folder / "cells" / f"{cell}.json"
    record = json.loads(path.read_text())
    record.pop("sha256")
    record.update(change)
    record["sha256"] = checksum(record)
    path.write_text(json.dumps(record, sort_keys=True))


@pytest.mark.smoke
def test_a_tampered_value_fails_with_status_1(smoke_folder, tmp_path, capsys):
    folder = tmp_path / "res"
    shutil.copytree(smoke_folder, folder)
    tamper(folder, RF, {"acc": 0.5})  # a sound record (checksum updated) with another value
    rc = main(["verify", str(folder), "--cells", RF])
    out = capsys.readouterr().out
    assert rc == 1
    line = next(x for x in out.splitlines() if x.startswith(RF))
    assert "FAIL" in line and "0.5000" in line and "bit-exact" in line
    assert "0 of 1 cells inside their envelope; 1 outside" in out


@pytest.mark.smoke
def test_a_damaged_cell_fails_and_stays_where_it_is(smoke_folder, tmp_path, capsys):
    folder = tmp_path / "res"
    shutil.copytree(smoke_folder, folder)
    path = folder / "cells" / f"{RF}.json"
    path.write_text(path.read_text().replace('"acc": 0.', '"acc": 0.1', 1))  # checksum no longer matches
    damaged = path.read_bytes()
    rc, out = verify_json(capsys, folder, "--cells", RF)
    assert rc == 1 and out["passed"] is False
    assert "checksum mismatch" in out["cells"][0]["problem"]
    assert path.read_bytes() == damaged and not (folder / "quarantine").exists()


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/folder"], "no results folder /nonexistent/folder"),
    (["{folder}", "--cells", "size/fashion_rf_s0.3_d0.0_r0"], "no cell size/fashion_rf_s0.3_d0.0_r0"),
    (["{folder}", "--sample", "0"], "--sample takes a count of at least 1"),
    (["{folder}", "--sample", "2", "--models", "svm"], "no cell of svm"),
    (["{empty}"], "holds no cells"),
])
def test_bad_input_is_one_clear_line_with_status_2(args, message, tmp_path, capsys):
    folder = tmp_path / "res"
    (folder / "cells" / "size").mkdir(parents=True)
    shutil.copy(__import__("pathlib").Path(__file__).parents[1] / "results" / "quick" / "cells" / f"{RF}.json",
                folder / "cells" / "size")
    (tmp_path / "empty" / "cells").mkdir(parents=True)
    args = [a.format(folder=folder, empty=tmp_path / "empty") for a in args]
    assert main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("datavsmath verify: error: ") and message in err and len(err.splitlines()) == 1


def test_the_sample_is_a_seeded_choice():
    names = [f"size/fashion_{m}_s0.{i}_d0.0_r0" for m in ("rf", "dnn") for i in range(1, 9)]
    a = choose_cells(names, sample=5, seed=3)
    assert a == choose_cells(names, sample=5, seed=3) and len(set(a)) == 5
    assert a != choose_cells(names, sample=5, seed=4)
    assert all("_dnn_" in n for n in choose_cells(names, sample=20, seed=0, models=["dnn"]))
    with pytest.raises(UserError, match="no cell size/x"):
        choose_cells(names, cells=["size/x"])


BASE = {"cpu": "AMD EPYC", "device": "cpu", "backend": "fused", "unit": "s0.1_d0.0_r0", "recipe": 2,
        "versions": {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6", "scikit-learn": "1.9.1"}}


def test_the_envelope_follows_what_differs():
    intel = {**BASE, "cpu": "Intel(R) Xeon(R) Processor"}
    assert envelope_for("rf", False, BASE, intel).kind == "exact"  # trees: any x86-64 CPU
    assert envelope_for("dnn", True, BASE, BASE).kind == "exact"
    env = envelope_for("dnn", True, BASE, intel)
    assert env.kind == "tolerance" and env.acc == pytest.approx(TOLERANCE_K * SEED_SD["dnn"]["acc"])
    assert "CPU AMD EPYC -> Intel" in env.reason
    pair = envelope_for("cnn", True, BASE, {**BASE, "unit": "s0.1_d0.0_r0 s0.05_d0.0_r0"})
    assert pair.kind == "tolerance" and "unit composition" in pair.reason
    gpu = envelope_for("dnn", True, {**BASE, "device": "gpu:NVIDIA H200"}, BASE)
    assert gpu.kind == "unmeasured" and not gpu.holds(0.0, 0.0)
    newer = envelope_for("rf", False, BASE, {**BASE, "versions": {**BASE["versions"], "scikit-learn": "1.10"}})
    assert newer.kind == "unmeasured" and "scikit-learn" in newer.reason
    # another version of the fused program has no measured envelope; the same one is exact
    assert envelope_for("dnn", True, {**BASE, "program": 1}, {**BASE, "program": 1}).kind == "exact"
    moved = envelope_for("dnn", True, {**BASE, "program": 1}, {**BASE, "program": 2})
    assert moved.kind == "unmeasured" and "fused training program 1 -> 2" in moved.reason


def test_an_envelope_holds_inside_and_fails_outside():
    exact = Envelope("exact")
    assert exact.holds(0.0, 0.0) and not exact.holds(1e-12, 0.0)
    tol = Envelope("tolerance", 0.01, 0.001)
    assert tol.holds(-0.01, 0.001) and not tol.holds(0.0101, 0.0) and not tol.holds(0.0, -0.002)
    assert math.isnan(Envelope("unmeasured", math.nan, math.nan).acc)


@pytest.mark.slow
def test_the_shipped_quick_results_verify(capsys, fashion_installed):
    """CI's check that the code at hand still gives back results/quick: three cells drawn
    with seed 0 among the installed datasets' cells, each inside its envelope."""
    from pathlib import Path

    quick = Path(__file__).parents[1] / "results" / "quick"
    rc, out = verify_json(capsys, quick, "--sample", "3")
    assert [c["ok"] for c in out["cells"]] == [True] * 3, out["cells"]
    assert rc == 0 and out["passed"] is True
