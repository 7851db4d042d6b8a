"""The package's shape: each subpackage states its API, no module imports another module's
private name, and the stages import one way (data -> damage/sampling -> models -> training ->
statistics -> reports): a lower stage never imports a higher one."""

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
          ("datavsmath.models", "datavsmath.keras22", "datavsmath.experiments"),
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
