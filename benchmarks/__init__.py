"""Speed and scale benchmarks: scripts (`python benchmarks/NAME.py --help`), also importable (`from benchmarks import
NAME`) by the tests."""
