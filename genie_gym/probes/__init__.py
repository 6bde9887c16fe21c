"""Behaviour probes of a world model against the real game: what the dream does, not how fast it runs.

Each probe is a module with its options (``add_arguments``) and its report (``run``), run as ``genie probe NAME``
(``genie probe --help`` lists them):

- ``control`` (:mod:`genie_gym.probes.control`): does the dream answer held actions, does Mario walk, jump, stop;
- ``hold-from-start`` (:mod:`genie_gym.probes.hold_from_start`): how far the camera goes from the reset;
- ``long-dream`` (:mod:`genie_gym.probes.long_dream`): does a long dream keep going forward;
- ``lam`` (:mod:`genie_gym.probes.lam`): does a latent action model carry the change to the next frame.

Speed and scale measurements stay in ``benchmarks/``.
"""
