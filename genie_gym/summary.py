"""The summary an experiment script ends with (examples/summarize_*.py): a markdown table for people, the same
numbers as strict JSON for programs (a missing figure is NaN in the computation and ``null`` in the file); and the
mean +- standard error that every report of the project uses (:func:`mean_and_se`)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np


def mean_and_se(values) -> tuple[float, float | None]:
    """``(mean, standard error of the mean)`` of the finite values (``None``, NaN and infinities are dropped).

    The error is the sample standard deviation (n - 1) / sqrt(n), ``None`` for fewer than two values; the mean is NaN
    when no value is left.
    """
    values = np.ravel(np.asarray(values, dtype=np.float64))  # None -> NaN
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, None
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return float(values.mean()), se


def strict_json(value):
    """``value`` (nested dicts / lists) with NaN and infinities replaced by ``None``, so it is valid JSON."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary(out: Path, markdown: str, result: dict) -> None:
    """``out/summary.md`` (printed too) and ``out/summary.json`` (strict JSON)."""
    out.joinpath("summary.md").write_text(markdown)
    out.joinpath("summary.json").write_text(json.dumps(strict_json(result), indent=2, allow_nan=False) + "\n")
    print(markdown)


def run_script(name: str, call: Callable[[], object]) -> int:
    """``call()``; a missing input or a bad value is printed as ``name: error`` on stderr and gives exit status 2
    (no traceback), else 0. The ``main`` tail of the experiment scripts."""
    try:
        call()
    except (FileNotFoundError, ValueError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    return 0
