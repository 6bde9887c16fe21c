"""Quality evaluations run from a checkout: how good a world model or a decoder is, for choosing and reporting.

Scripts (``python evals/NAME.py --help`` or ``python -m evals.NAME``), also importable (``from evals import NAME``) by
the tests; not in the wheel. Each reads episode stores and checkpoints and prints JSON lines:

- ``dream_val``: dynamics checkpoints and dream settings chosen on the validation stores along the dream's own path
  (``--report``: the one test-set report of a chosen model, the model card's figures);
- ``dynamics_val_loss``: the dynamics' teacher-forced loss and next-frame PSNR on validation windows;
- ``motion_strata``: how the validation windows split into still / moving / scrolling;
- ``fid_real_vs_real``: FID of real frames against other real frames, the scale for a model's FID;
- ``upscaler_eval``: the upscaler against bicubic on a held-out high-resolution store.

What goes elsewhere:

- ``benchmarks/``: speed and scale (frames per second, MFU, memory), figures in ``docs/BENCHMARKS.md``;
- ``genie eval``: the paper's evaluation protocol (PSNR, SSIM, ΔPSNR, FID) of any world model, in the package;
- ``genie probe NAME`` (``genie_gym/probes/``): behaviour probes of a dream against the real game (does it answer
  the actions, how far does it go).
"""
