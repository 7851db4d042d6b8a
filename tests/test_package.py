"""The package's shape: each subpackage states its API, no module imports another module's
private name, and the stages import one way (data -> damage/sampling -> models -> training ->
statistics -> reports): a lower stage never imports a higher one; importing a module changes no
process state (environment variables, umask)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pkg" / "datavsmath"


def _modules():
    return sorted(p for p in PKG.rglob("*.py"))


def _imports(path: Path):
    """(module imported, names) per `from X import names` of ``path``, X resolved to a
    dotted name under datavsmath."""
    tree = ast.parse(path.read_text())
    here = path.relative_to(PKG.parent).with_suffix("").parts
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ((node.module,) if node.module else ()))
            else:
                mod = node.module or ""
            if mod.startswith("datavsmath"):
                yield mod, [a.name for a in node.names], node.lineno


def test_no_module_imports_a_private_name_of_another():
    bad = [f"{p.relative_to(PKG)}:{line} imports {n} from {mod}"
           for p in _modules() for mod, names, line in _imports(p)
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, "\n".join(bad)


#: the stages, lowest first; a module may import its own stage and the ones below
STAGES = [("datavsmath.errors", "datavsmath.metrics", "datavsmath.data", "datavsmath.idx"),
          ("datavsmath.damage", "datavsmath.noise", "datavsmath.pruning"),
          ("datavsmath.models", "datavsmath.devices", "datavsmath.keras22", "datavsmath.pretraining",
           "datavsmath.experiments", "datavsmath.grid", "datavsmath.networks"),
          ("datavsmath.training",),
          ("datavsmath.stats",),
          ("datavsmath.report",),
          ("datavsmath.commands", "datavsmath.cli")]


def _stage(mod: str):
    for i, prefixes in enumerate(STAGES):
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return i
    return None


@pytest.mark.parametrize("stage", range(len(STAGES) - 1))
def test_imports_point_one_way(stage):
    bad = []
    for p in _modules():
        mod = ".".join(p.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
        if _stage(mod) != stage:
            continue
        for target, _, line in _imports(p):
            t = _stage(target)
            if t is not None and t > stage:
                bad.append(f"{mod}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_the_statistics_api_is_reachable_from_the_subpackage():
    import datavsmath.stats as stats
    from datavsmath.stats import scaling

    assert sorted(stats.__all__) == sorted(scaling.__all__)
    assert stats.fit_learning_curves is scaling.fit_learning_curves
    with pytest.raises(AttributeError, match="the API is"):
        stats.no_such_name


#: no module of the package is longer than this: a longer one does several jobs, to be split
#: along them
MAX_MODULE_LINES = 600


def test_no_module_is_longer_than_600_lines():
    long = {str(p.relative_to(PKG)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them along their jobs): {long}"


@pytest.mark.parametrize("package", ["datavsmath.training", "datavsmath.report"])
def test_each_subpackage_states_its_api(package):
    """Every name of the subpackage's ``__all__`` resolves to its module's object; a wrong name
    is an AttributeError naming the API; submodules still import as before."""
    import importlib

    pkg = importlib.import_module(package)
    assert pkg.__all__ and sorted(dir(pkg)) == sorted(pkg.__all__)
    for name in pkg.__all__:
        assert getattr(pkg, name) is getattr(importlib.import_module(f"{package}.{pkg._API[name]}"), name)
    with pytest.raises(AttributeError, match="the API is"):
        pkg.no_such_name
    assert importlib.import_module(f"{package}.site" if package.endswith("report") else f"{package}.store")


#: run in a fresh interpreter: import every module of the package (keras22 patches keras, so it
#: is imported only once keras has started; __main__ runs the CLI) and report what changed. The
#: libraries it imports come first: scikit-learn sets KMP_* variables of its own at import
_IMPORT_ALL = """
import importlib, json, os, pkgutil, sys
for lib in ("numpy", "pandas", "scipy", "sklearn", "xgboost", "statsmodels.api", "plotnine", "dask",
            "distributed", "tqdm"):
    importlib.import_module(lib)
import datavsmath

calls = []
real_umask = os.umask
os.umask = lambda mask: calls.append(oct(mask)) or real_umask(mask)
before = dict(os.environ)
for info in pkgutil.walk_packages(datavsmath.__path__, "datavsmath."):
    if info.name.rsplit(".", 1)[-1] not in ("__main__", "keras22"):
        importlib.import_module(info.name)
after = dict(os.environ)
changed = {k: [before.get(k), after.get(k)] for k in set(before) | set(after) if before.get(k) != after.get(k)}
print(json.dumps({"environ": changed, "umask_calls": calls, "n": len(sys.modules)}))
"""


def test_importing_the_package_changes_no_process_state():
    """Importing a module sets no environment variable and touches no umask (they are set
    where keras starts and where files are written)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    env["PYTHONPATH"] = str(PKG.parent) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", _IMPORT_ALL], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["environ"] == {}, f"importing the package changed os.environ: {seen['environ']}"
    assert seen["umask_calls"] == [], f"importing the package called os.umask: {seen['umask_calls']}"
