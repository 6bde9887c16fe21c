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


def probe_output(scrolls: dict[int, tuple[int, int]]) -> str:
    lines = ["world model X, 8 MaskGIT steps"]
    lines += [f"seed {seed}: 200 real steps (to a lost life or the end), real camera 154 px, dream scroll {scroll} px, "
              f"Mario in {mario}% of the dreamed frames (95% of the real ones)" for seed, (scroll, mario) in scrolls.items()]
    return "\n".join(lines + ["  200    6       15.05 dB        23.40 dB       15.22 dB       154 px         23 px"])


def test_long_dreams_paired_per_seed():
    from campaign import compare_long_dream

    reference = probe_output({300: (40, 30), 301: (60, 20), 302: (0, 50)})
    candidate = probe_output({300: (50, 40), 301: (58, 40), 302: (0, 80), 303: (99, 99)})  # 303: not in the reference
    result = compare_long_dream.compare(candidate, reference)
    # scroll differences 10, -2, 0 (mean 8/3, sample std sqrt(148/3)/sqrt(3)); Mario 10, 20, 30
    assert result["seeds"] == 3 and result["scroll_diff"] == pytest.approx(8 / 3)
    assert result["scroll_diff_se"] == pytest.approx(math.sqrt(((10 - 8 / 3) ** 2 + (2 + 8 / 3) ** 2 + (8 / 3) ** 2)
                                                               / 2 / 3))
    assert result["mario_diff"] == pytest.approx(20.0) and result["reference_scroll"] == pytest.approx(100 / 3)
    with pytest.raises(SystemExit, match="share 1 seed"):
        compare_long_dream.compare(probe_output({300: (1, 1)}), reference)
