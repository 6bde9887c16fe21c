"""Speed and scale benchmarks: scripts that print how fast or how big (frames/s, MFU, memory), figures in
``docs/BENCHMARKS.md``. Run from the repository root as ``python -m benchmarks.NAME --help`` (those that import no
other benchmark also as ``python benchmarks/NAME.py``); also importable (``from benchmarks import NAME``) by the tests.
How good a model is (quality evaluations) is measured in ``evals/``."""
