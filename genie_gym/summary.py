"""The summary an experiment script ends with (examples/summarize_*.py): a markdown table for people, the same
numbers as strict JSON for programs (a missing figure is NaN in the computation and ``null`` in the file)."""

from __future__ import annotations

import json
import math
from pathlib import Path


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
