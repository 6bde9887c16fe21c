"""campaign/compare_val.py: candidates compared paired per sequence, against a hand computation."""

from __future__ import annotations

import math

import pytest

from campaign import compare_val


def row(dynamics: str, data: str, psnr: list[float]) -> dict:
    return {"dynamics": dynamics, "data": data, "settings": {}, "gain": 0.0, "gain_se": 0.0, "sequence_psnr": psnr}


def test_paired_difference_and_its_standard_error():
    rows = [row("old", "val_a", [30.0, 20.0, 25.0]), row("new", "val_a", [31.0, 22.0, 25.0]),
            row("old", "val_b", [10.0, 12.0]), row("new", "val_b", [9.0, 12.0])]
    result = compare_val.compare(rows)
    (_, same, same_se), (_, gain, se) = result["val_a"]
    assert (same, same_se) == (0.0, 0.0)
    # differences 1, 2, 0: mean 1, sample std 1, se 1/sqrt(3) (the unpaired means differ by 1 with far larger spread)
    assert gain == pytest.approx(1.0) and se == pytest.approx(1 / math.sqrt(3))
    assert result["val_b"][1][1] == pytest.approx(-0.5)
    # another reference flips the sign; a missing reference or a different sequence count is refused
    assert compare_val.compare(rows, reference="new")["val_a"][0][1] == pytest.approx(-1.0)
    with pytest.raises(SystemExit, match="no row of other"):
        compare_val.compare(rows, reference="other")
    with pytest.raises(SystemExit, match="2 sequences"):
        compare_val.compare(rows + [row("short", "val_a", [1.0, 2.0])])
    with pytest.raises(SystemExit, match="--per-sequence"):
        compare_val.compare([{"dynamics": "x", "data": "val_a"}])
