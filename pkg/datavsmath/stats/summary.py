"""The printable report of every statistics result (:class:`Summary`, as statsmodels'
``summary()``) and the fixed number formats of its tables (:func:`format_column`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Summary", "format_column"]


def _fmt_cell(v, digits: int = 4) -> str:
    """One value on its own: yes/no, integers with thousands separators, floats to ``digits``
    significant digits (in columns of mixed types, where no column format applies)."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not np.isfinite(v):
            return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"
    return "" if v is None else str(v)


def _float_format(values: np.ndarray, digits: int) -> str:
    """One fixed format for a column of floats, so that its numbers line up and compare at a
    glance: counts (largest value 1,000 or more) as whole numbers with thousands separators;
    otherwise the decimals that give the largest value ``digits`` significant digits (accuracy
    0.8915 at 4, an exponent 0.245 at 3); a column of tiny values keeps ``digits`` significant
    digits in e-notation, where fixed decimals would show only zeros."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 0.0
    if top >= 1000:
        return ",.0f"
    if top == 0:
        return ".0f"
    if top < 1e-3:
        return f".{digits - 1}e"
    return f".{max(0, digits - 1 - int(np.floor(np.log10(top))))}f"


def format_column(col: pd.Series, digits: int = 4) -> pd.Series:
    """``col`` as text for a printed table (see :func:`_float_format`); NaN as "nan", infinite
    limits as "inf"/"-inf", booleans as yes/no, integers with thousands separators.

    Parameters
    ----------
    col : pandas.Series
        One column of a table.
    digits : int
        Significant digits of the column's largest value (floats only).

    Returns
    -------
    pandas.Series of str, the same index.
    """
    if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_float_dtype(col):
        return col.map(lambda v: _fmt_cell(v, digits))
    fmt = _float_format(col.to_numpy(dtype=float), digits)
    return col.map(lambda v: _fmt_cell(v) if not np.isfinite(v) else format(float(v), fmt))


class Summary:
    """A printable report in the manner of statsmodels' ``summary()``: a title, tables and
    notes. ``str()``/``as_text()`` for the console, ``as_html()`` for notebooks.

    Not ``statsmodels.iolib.summary2.Summary``: that one wraps the notes to the width of the
    narrowest table (a 20-character column of words under a small table), has no sections
    (:meth:`extend`, which the per-curve reports use) and takes one float format per table,
    where counts, accuracies and exponents need a format per column.

    Parameters
    ----------
    title : str
        Centred above the report.
    """

    def __init__(self, title: str):
        self.title = title
        self.parts: list = []

    def add_df(self, df: pd.DataFrame, index: bool = True, digits: int = 4):
        """Add a table.

        Each float column gets one fixed format (:func:`format_column`: counts with thousands
        separators, the others to ``digits`` significant digits of the column's largest value),
        so that its numbers line up; bools read yes/no.

        Parameters
        ----------
        df : pandas.DataFrame
            The table; formatted now, so later changes to it do not show.
        index : bool
            Print the index.
        digits : int
            Significant digits of each float column's largest value.
        """
        self.parts.append(("df", df.apply(lambda col: format_column(col, digits)), index))

    def add_text(self, text: str):
        """Add a note, wrapped to the report's width when printed.

        Parameters
        ----------
        text : str
            One paragraph.
        """
        self.parts.append(("text", text, None))

    def extend(self, other: "Summary"):
        """Append another summary's parts as a section under its title.

        Parameters
        ----------
        other : Summary
            The summary to append; its parts are shared, not copied.
        """
        self.parts.append(("title", other.title, None))
        self.parts.extend(other.parts)

    def as_text(self) -> str:
        """The report as plain text for the console.

        Returns
        -------
        str
            Title, tables and notes, as wide as the widest table (at least 78 characters).
        """
        import textwrap

        blocks = [p[1].to_string(index=p[2]) for p in self.parts if p[0] == "df"]
        width = max([78] + [len(line) for b in blocks for line in b.splitlines()])
        out = [self.title.center(width).rstrip(), "=" * width]
        for kind, obj, index in self.parts:
            if kind == "df":
                out += [obj.to_string(index=index), "-" * width]
            elif kind == "title":
                out += ["", obj.center(width).rstrip(), "=" * width]
            else:
                out += textwrap.wrap(obj, width) or [""]
        return "\n".join(out)

    def as_html(self) -> str:
        """The report as HTML for notebooks.

        Returns
        -------
        str
            An ``h4`` title, the tables as HTML tables and the notes as paragraphs, escaped.
        """
        import html

        out = [f"<h4>{html.escape(self.title)}</h4>"]
        for kind, obj, index in self.parts:
            if kind == "df":
                out.append(obj.to_html(index=index))
            else:
                tag = "h4" if kind == "title" else "p"
                out.append(f"<{tag}>{html.escape(obj)}</{tag}>")
        return "\n".join(out)

    _repr_html_ = as_html
    __str__ = as_text

    def __repr__(self):
        return self.as_text()
