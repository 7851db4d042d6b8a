"""Every public name of the package has a numpydoc docstring: a summary, and a Parameters
section naming each parameter when it takes any (a class: in its own docstring or its
``__init__``'s). Read from the source with numpydoc's parser, without importing the modules.

``TO_DO`` lists the modules whose docstrings are not complete yet; each is checked to still
fail, so that a module fixed leaves the list and is held to it from then on.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString

PKG = Path(__file__).resolve().parents[1] / "pkg" / "datavsmath"

#: modules with public names still missing a docstring or a Parameters section
TO_DO: set[str] = set()


def _modules() -> list[str]:
    names = []
    for p in sorted(PKG.rglob("*.py")):
        name = ".".join(p.relative_to(PKG).with_suffix("").parts)
        if name != "__main__" and not any(part.startswith("_") and part != "__init__" for part in name.split(".")):
            names.append(name)
    return names


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    names += [f"*{a.vararg.arg}"] if a.vararg else []
    names += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def _documented(doc: str) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sections numpydoc does not know are not our concern here
        params = NumpyDocString(doc)["Parameters"]
    names: set[str] = set()
    for p in params:
        names.update(n.strip() for n in p.name.split(","))
    return names


def _is_property(fn) -> bool:
    return any(isinstance(d, ast.Name) and d.id in ("property", "cached_property")
               or isinstance(d, ast.Attribute) and d.attr in ("setter", "cached_property")
               for d in fn.decorator_list)


def _public(tree: ast.Module):
    """(qualified name, node, the parameters to document) of each public name."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node, _parameters(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            yield node.name, node, _parameters(init) if init is not None else []
            for sub in node.body:
                if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not sub.name.startswith("_")
                        and not _is_property(sub)):
                    yield f"{node.name}.{sub.name}", sub, _parameters(sub)


def problems(module: str) -> list[str]:
    """What is missing from the docstrings of ``module`` (dotted, under datavsmath)."""
    path = PKG.joinpath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text())
    out = []
    for name, node, params in _public(tree):
        doc = ast.get_docstring(node)
        if not doc:
            out.append(f"{module}.{name}: no docstring")
            continue
        if not params:
            continue
        documented = _documented(doc)
        if isinstance(node, ast.ClassDef):
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            documented |= _documented(ast.get_docstring(init) or "") if init is not None else set()
        missing = [p for p in params if p not in documented and p.lstrip("*") not in documented]
        if missing:
            out.append(f"{module}.{name}: Parameters section lacks {', '.join(missing)}")
    return out


@pytest.mark.parametrize("module", [m for m in _modules() if m not in TO_DO])
def test_public_names_have_numpydoc_parameters(module):
    bad = problems(module)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(TO_DO))
def test_the_list_of_modules_to_do_is_current(module):
    assert module in _modules(), f"{module} is no module of the package; take it off TO_DO"
    assert problems(module), f"{module} is complete now; take it off TO_DO"


def test_the_check_finds_what_is_missing():
    tree = ast.parse('def f(a, b):\n    """Summary.\n\n    Parameters\n    ----------\n    a : int\n'
                     '        The a.\n    """\n\n\ndef g(x):\n    """No sections."""\n\n\ndef h():\n    pass\n')
    found = {name: _documented(ast.get_docstring(node) or "") >= set(params)
             for name, node, params in _public(tree)}
    assert found == {"f": False, "g": False, "h": True}
