"""Numbers and intervals as the report pages write them, and table cells as they read them.

A number for prose (:func:`fmt_num`), an estimate with its 95% interval in a sentence
(:func:`fmt_ci`, :func:`fmt_interval`), in a table cell (:func:`compact`) or as a loss in words
(:func:`loss_words`), a data-needed row by its verdict (:func:`needed_text`); and whether a cell
of a table read back from CSV is true (:func:`is_true`) or holds no number (:func:`is_missing`).
"""

from __future__ import annotations

import math

__all__ = ["compact", "fmt_ci", "fmt_interval", "fmt_num", "is_missing", "is_true", "loss_words", "needed_text"]


def is_true(v) -> bool:
    """Whether a table cell reads as true ("True", "true", "1", "1.0"): CSV columns read back as text.

    Parameters
    ----------
    v : object
        The cell.

    Returns
    -------
    bool
    """
    return str(v).strip().lower() in ("true", "1", "1.0")


def is_missing(v) -> bool:
    """Whether a table cell holds no number (None, NaN, or text that is not a number).

    Parameters
    ----------
    v : object
        The cell.

    Returns
    -------
    bool
    """
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def fmt_num(v: float | None, digits: int = 3) -> str:
    """A number for prose: thousands with separators ('27,733'), small values to ``digits``
    significant figures ('0.0282'), huge ones in scientific notation ('2.5e+14').

    Parameters
    ----------
    v : float or None
        The number (missing: 'n/a').
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if v is None or is_missing(v):
        return "n/a"
    v = float(v)
    if abs(v) >= 1e7:
        return f"{v:.2g}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def fmt_interval(est: float | None, lo: float | None, hi: float | None, digits: int = 3) -> str:
    """'27,733 [23,258, 33,068]'; 'est (single run, no interval)' without bounds.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if is_missing(est):
        return "n/a"
    if est == float("-inf"):  # the lower quality cannot reach the target at any size
        return "not compensable (no amount of data)"
    if is_missing(lo) or is_missing(hi):
        return f"{fmt_num(est, digits)} (no interval)"
    return f"{fmt_num(est, digits)} [{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def fmt_ci(est: float, lo: float, hi: float, digits: int = 3, signed: bool = False) -> str:
    """'0.921 (95% CI 0.918 to 0.924)', or '0.921 (single run, no CI)' without bounds.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).
    digits : int, default 3
        Significant figures.
    signed : bool, default False
        Write the sign of positive numbers too.

    Returns
    -------
    str
    """
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    sign = "+" if signed else ""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{est:{sign}.{digits}f} (single run, no CI)"
    return f"{est:{sign}.{digits}f} (95% CI {lo:{sign}.{digits}f} to {hi:{sign}.{digits}f})"


def compact(est: float, lo: float, hi: float) -> str:
    """A table cell: '0.880 [0.871, 0.889]' with an interval, '0.880' for a single run.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).

    Returns
    -------
    str
    """
    if is_missing(est):
        return ""
    if is_missing(lo) or is_missing(hi):
        return f"{est:.3f}" if abs(est) < 100 else fmt_num(est)
    return f"{est:.3f} [{lo:.3f}, {hi:.3f}]" if abs(est) < 100 else fmt_interval(est, lo, hi)


def loss_words(est: float, lo: float = float("nan"), hi: float = float("nan"), what: str = "accuracy",
               digits: int = 3) -> str:
    """A drop written with its sign in words: 'loses 0.028 accuracy (95% CI 0.020 to 0.035)'
    for a positive ``est`` (clean minus worse), 'gains 0.004 accuracy' for a negative one.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float, default float('nan')
        Lower limit of its 95% interval (NaN: none).
    hi : float, default float('nan')
        Upper limit of its 95% interval (NaN: none).
    what : str, default "accuracy"
        The metric in words.
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if is_missing(est):
        return f"has no {what} to compare (a cell is missing)"
    verb = "loses" if est >= 0 else "gains"
    e = abs(est)
    if is_missing(lo) or is_missing(hi):
        return f"{verb} {e:.{digits}f} {what} (single run, no interval)"
    if lo >= 0 or hi <= 0:
        a, b = sorted((abs(lo), abs(hi)))
        return f"{verb} {e:.{digits}f} {what} (95% CI {a:.{digits}f} to {b:.{digits}f})"
    return (f"{verb} {e:.{digits}f} {what} (95% CI from a gain of {-lo:.{digits}f} "
            f"to a loss of {hi:.{digits}f})")


def needed_text(r: dict, lo_key: str = "ci_low", hi_key: str = "ci_high") -> str:
    """A data-needed row (of ``data_needed.csv`` or a derivative level) in words, by its
    verdict: 'est [lo, hi]' when reachable (marked extrapolated beyond the rows trained on),
    'undetermined: est [lo, no upper limit]' or 'undetermined: at least lo' with the reason,
    'not reachable' with it. Tables written before the verdict existed are read by
    ``reachable``.

    Parameters
    ----------
    r : dict
        The row.
    lo_key : str, default "ci_low"
        Its lower limit's column.
    hi_key : str, default "ci_high"
        Its upper limit's column.

    Returns
    -------
    str
    """
    verdict = r.get("verdict")
    if is_missing(verdict) if not isinstance(verdict, str) else not verdict:
        verdict = "reachable" if is_true(r.get("reachable")) and not is_missing(r.get("n_needed")) \
            else "not reachable"
    note, status = str(r.get("note", "")), str(r.get("status", ""))
    if verdict == "not reachable":
        return "not reachable" + (" (the error does not fall)" if status == "not_decreasing"
                                  else " (floor at or above the target)" if "floor" in note
                                  else "")
    est, lo = r.get("n_needed"), r.get(lo_key)
    if verdict == "reachable":
        if status == "already_met":
            return "0 (met already)"
        text = fmt_interval(est, lo, r.get(hi_key))
        return text + (" (extrapolated)" if is_true(r.get("extrapolated")) else "")
    why = ("beyond the horizon" if "horizon" in note else
           "the floor may lie above the target" if "floor" in note else
           "no fit" if "no converged fit" in note or "identifiable" in note else
           "unbounded")
    if is_missing(est) and is_missing(lo):
        return f"undetermined ({why})"
    if is_missing(est):
        return f"undetermined: at least {fmt_num(lo)} ({why})"
    return f"undetermined: {fmt_num(est)} [{fmt_num(lo)}, no upper limit] ({why})"
