"""``python -m genie_gym.trainers <model> ...`` (and ``torchrun ... -m genie_gym.trainers <model> ...``): same as
``genie train``."""

import sys

from genie_gym.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
