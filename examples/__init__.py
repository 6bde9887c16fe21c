"""Example scripts a user copies: run as ``python examples/NAME.py`` (or through the ``.sh`` examples); also
importable (``from examples import NAME``) by the tests; not in the wheel."""
