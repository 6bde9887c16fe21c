"""genie_gym.summary: the mean +- standard error of every report, and the experiment scripts' ``main`` tail."""

import math
import subprocess
import sys

import numpy as np
import pytest

from genie_gym.summary import mean_and_se, run_script


def test_mean_and_se_by_hand():
    # 1, 2, 4: mean 7/3; deviations -4/3, -1/3, 5/3 -> sum of squares 42/9, sample variance 7/3, se sqrt(7/9)
    mean, se = mean_and_se([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3) and se == pytest.approx(math.sqrt(7 / 9))
    # None, NaN and infinities are dropped, from a list or an array
    assert mean_and_se([1.0, None, 2.0, math.nan, 4.0, math.inf]) == pytest.approx((7 / 3, math.sqrt(7 / 9)))
    assert mean_and_se(np.array([4.0, np.nan, 1.0, 2.0, -np.inf])) == pytest.approx((7 / 3, math.sqrt(7 / 9)))
    # two values: se = |a - b| / 2
    assert mean_and_se(np.array([3.0, 5.0])) == pytest.approx((4.0, 1.0))
    # one (finite) value: no error; none: NaN mean
    assert mean_and_se([5.0, None, math.nan]) == (5.0, None)
    mean, se = mean_and_se([None, math.nan])
    assert math.isnan(mean) and se is None
    mean, se = mean_and_se([])
    assert math.isnan(mean) and se is None
    assert all(isinstance(x, float) for x in mean_and_se(np.arange(4)))


def test_run_script(capsys):
    assert run_script("tool.py", lambda: None) == 0

    def missing():
        raise FileNotFoundError("x.json is missing")

    def bad():
        raise ValueError("bad value")

    assert run_script("tool.py", missing) == 2 and capsys.readouterr().err == "tool.py: x.json is missing\n"
    assert run_script("tool.py", bad) == 2 and capsys.readouterr().err == "tool.py: bad value\n"

    def other():
        raise KeyError("k")

    with pytest.raises(KeyError):  # anything else is a bug: its traceback is kept
        run_script("tool.py", other)


def test_summary_stays_light():
    code = "import sys, genie_gym.summary; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
