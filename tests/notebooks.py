"""Turn a Quarto document (.qmd) into a Jupyter notebook, without the quarto binary.

Quarto runs a .qmd's executable Python chunks, in order, in one Jupyter kernel; everything
else is Markdown. :func:`qmd_to_notebook` makes the same split so that a test can execute a
report with ``nbclient`` and check it the way ``quarto render`` would run it:

* YAML front matter (``---`` ... ``---`` on the first lines) becomes a leading raw cell, as in
  Quarto's own .ipynb format; its ``jupyter:`` key picks the kernel (default ``python3``).
* A chunk opens with a line ```` ```{python} ```` (three or more backticks at the start of
  the line; text after the language, as in ```` ```{python echo=false} ````, is allowed) and
  closes with a line of at least as many backticks. It becomes a code cell whose source keeps
  its ``#|`` option lines; :func:`cell_options` reads them.
* A chunk with ``#| eval: false`` (or a document with ``execute: {eval: false}``) is shown,
  not run: it becomes Markdown holding a fenced code block.
* Fenced blocks that are not executable chunks (```` ```python ````, ```` ```{{python}} ````,
  ``~~~``, ```` ```{mermaid} ````, ...) are Markdown, and so is everything inside them, even a
  line that looks like a chunk. So are shortcodes such as ``{{< include _file.md >}}``:
  included files are not read, hence never executed.
* A chunk in a language no Python kernel runs (``{r}``, ``{julia}``, ...) raises ValueError,
  as does a chunk left open at the end of the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import yaml

__all__ = ["qmd_to_notebook", "read_qmd", "cell_options", "split_qmd"]

_CHUNK_OPEN = re.compile(r"^(?P<fence>`{3,})\s*\{\s*(?P<lang>[A-Za-z][\w+-]*)(?P<rest>[^{}]*)\}\s*$")
_MD_FENCE_OPEN = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_OPTION_LINE = re.compile(r"^#\|\s?(?P<yaml>.*)$")
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: chunk languages run by the Python kernel
PYTHON_LANGS = {"python", "python3"}
#: chunk languages Quarto runs with other engines (knitr, julia...): a Python kernel cannot
_OTHER_ENGINES = {"r", "julia", "bash", "sh", "sql", "rcpp", "stan", "octave", "matlab"}


def split_qmd(text: str) -> tuple[str | None, list[tuple[str, str, int]]]:
    """Split .qmd text into (front matter or None, blocks).

    Each block is ``(kind, source, line)`` with kind "markdown" or "code", the source without
    the chunk fences, and the 1-based line where the block starts in ``text``.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    front, start = _front_matter(lines)
    blocks: list[tuple[str, str, int]] = []
    md: list[str] = []
    md_start = start + 1
    md_fence: tuple[str, int] | None = None  # (char, length) of an open Markdown fence
    i = start
    while i < len(lines):
        line = lines[i]
        if md_fence is not None:
            md.append(line)
            if _closes(line, md_fence[0], md_fence[1]):
                md_fence = None
            i += 1
            continue
        chunk = _CHUNK_OPEN.match(line)
        if chunk and chunk["lang"].lower() in PYTHON_LANGS:
            _flush(blocks, md, md_start)
            fence_len = len(chunk["fence"])
            end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], "`", fence_len)), None)
            if end is None:
                raise ValueError(f"line {i + 1}: code chunk opened with {chunk['fence']} is never closed")
            blocks.append(("code", "\n".join(lines[i + 1:end]), i + 1))
            i = end + 1
            md, md_start = [], i + 1
            continue
        if chunk and chunk["lang"].lower() in _OTHER_ENGINES:
            raise ValueError(f"line {i + 1}: a {{{chunk['lang']}}} chunk cannot run in a Python kernel")
        fence = _MD_FENCE_OPEN.match(line)
        if fence and not (fence["fence"][0] == "`" and "`" in fence["info"]):
            md_fence = (fence["fence"][0], len(fence["fence"]))
        md.append(line)
        i += 1
    _flush(blocks, md, md_start)
    return front, blocks


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """(front matter text, index of the first line after it) or (None, 0)."""
    if not lines or lines[0].rstrip() != "---":
        return None, 0
    for j in range(1, len(lines)):
        if lines[j].rstrip() in ("---", "..."):
            return "\n".join(lines[: j + 1]), j + 1
    return None, 0  # an unclosed '---' is a thematic break, not front matter


def _closes(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    return len(stripped) >= length and set(stripped) == {char}


def _flush(blocks: list, md: list[str], start: int) -> None:
    # drop blank lines around Markdown blocks; keep their start line accurate
    while md and not md[0].strip():
        md.pop(0)
        start += 1
    while md and not md[-1].strip():
        md.pop()
    if md:
        blocks.append(("markdown", "\n".join(md), start))


def cell_options(source_or_cell) -> dict:
    """The ``#|`` chunk options at the top of a code cell (or its source) as a dict.

    ``#| label: fig-size`` gives ``{"label": "fig-size"}``. Raises ValueError on invalid YAML.
    """
    source = source_or_cell if isinstance(source_or_cell, str) else source_or_cell["source"]
    option_lines = []
    for line in source.split("\n"):
        m = _OPTION_LINE.match(line)
        if not m:
            break
        option_lines.append(m["yaml"])
    if not option_lines:
        return {}
    try:
        options = yaml.safe_load("\n".join(option_lines))
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid '#|' chunk options: {exc}") from exc
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"'#|' chunk options must be 'key: value' lines, got {option_lines!r}")
    return options


def _kernel_name(meta: dict, default: str) -> str:
    jupyter = meta.get("jupyter")
    if isinstance(jupyter, str):
        return jupyter
    if isinstance(jupyter, dict):
        spec = jupyter.get("kernelspec", jupyter)
        if isinstance(spec, dict) and spec.get("name"):
            return str(spec["name"])
    return default


def qmd_to_notebook(text: str, kernel: str = "python3") -> nbformat.NotebookNode:
    """A notebook (nbformat v4) of the .qmd ``text``: front matter as a raw cell, Markdown as
    Markdown cells, executable Python chunks as code cells, in document order.

    Consecutive Markdown (including unevaluated chunks) is merged into one cell.
    ``kernel`` is used unless the front matter names one (``jupyter: <kernel>``). Code cells
    whose ``label`` option is a valid, unused cell id take it as their id.
    """
    front, blocks = split_qmd(text)
    meta = {}
    if front is not None:
        meta = yaml.safe_load("\n".join(front.split("\n")[1:-1])) or {}
        if not isinstance(meta, dict):
            raise ValueError("the front matter must be a YAML mapping")
    doc_eval = (meta.get("execute") or {}).get("eval", True) if isinstance(meta.get("execute"), dict) else True
    cells = [nbformat.v4.new_raw_cell(front)] if front is not None else []
    used_ids: set[str] = set()

    def add_markdown(text: str) -> None:  # consecutive Markdown becomes one cell
        if cells and cells[-1].cell_type == "markdown":
            cells[-1].source += "\n\n" + text
        else:
            cells.append(nbformat.v4.new_markdown_cell(text))

    for kind, source, line in blocks:
        if kind == "markdown":
            add_markdown(source)
            continue
        try:
            options = cell_options(source)
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from exc
        if not options.get("eval", doc_eval):
            add_markdown(f"```python\n{source}\n```")
            continue
        cell = nbformat.v4.new_code_cell(source)
        label = str(options.get("label", ""))
        if _CELL_ID.match(label) and label not in used_ids:
            cell["id"] = label
            used_ids.add(label)
        cells.append(cell)
    name = _kernel_name(meta, kernel)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": name, "display_name": name, "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


def read_qmd(path: str | os.PathLike, kernel: str = "python3") -> nbformat.NotebookNode:
    """:func:`qmd_to_notebook` of the file at ``path`` (read as UTF-8)."""
    return qmd_to_notebook(Path(path).read_text(encoding="utf-8"), kernel)
