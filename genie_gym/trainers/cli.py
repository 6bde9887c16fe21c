"""``genie train tokenizer|lam|dynamics|genie-redux``: the command line of the training loop.

Also reachable as ``python -m genie_gym.trainers <model> ...`` and, for DDP,
``torchrun --nproc_per_node N -m genie_gym.trainers <model> ...`` (gloo on CPU, nccl on CUDA; ``--batch-size`` stays
the global batch, split across the processes).

Typical pipeline::

    genie train tokenizer --config small --data DATA --out runs/tok --steps 20000
    genie train dynamics  --config small --data DATA --out runs/dyn --tokenizer runs/tok --steps 20000
    genie train lam       --config small --data DATA --out runs/lam --steps 20000
    genie train genie-redux --config small --data DATA --out runs/gr --tokenizer runs/tok --lam runs/lam

``dynamics`` trains GenieRedux-G (ground-truth actions). ``genie-redux`` trains the GenieRedux dynamics with
``action_source="latent"``: every transition is labelled once by the trained LAM and those codes are the actions.
Both tokenize the store once with the tokenizer (cached under ``DATA/.tokens/<hash>/``, reused while the tokenizer
checkpoint is the same). Ctrl-C or SIGTERM writes a checkpoint and exits with status 130; rerun the same command with
``--resume`` to continue exactly where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from genie_gym.models.configs import TRAINING_ONLY_FIELDS
from genie_gym.trainers.defaults import (
    DEFAULT_GRAD_CLIP,
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
    MIN_LR_RATIO,
    REFERENCE_WARMUP_STEPS,
)

MODELS: tuple[str, ...] = ("tokenizer", "lam", "dynamics", "genie-redux")
INTERRUPTED_EXIT = 130


def parse_config_overrides(items: list[str]) -> dict[str, Any]:
    """``["tdce_lambda=1", ...]`` -> ``{"tdce_lambda": 1}`` (values parsed as JSON, else text)."""
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key.strip()] = text
    return overrides


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` arguments (model, data, run directory, optimisation, logging) to ``parser``."""
    parser.add_argument("model", choices=MODELS, help="what to train")
    parser.add_argument("--config", default="small", help="model config: small (CPU), paper (GPU) or a JSON file")
    parser.add_argument("--data", help="episode store directory (its train split is used; required unless --resume)")
    parser.add_argument("--out", required=True, help="run directory (config, logs, images, checkpoints)")
    parser.add_argument("--tokenizer", help="dynamics/genie-redux: trained tokenizer run dir or checkpoint dir")
    parser.add_argument("--lam", help="genie-redux: trained latent action model run dir or checkpoint dir")
    parser.add_argument("--init", help="fine-tune: start from this run or checkpoint of the same model kind (its "
                                       "config replaces --config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="config_set",
                        help="change a training-only config field, also of an --init model (dynamics: "
                             f"{', '.join(sorted(TRAINING_ONLY_FIELDS['dynamics']))}); repeatable")
    parser.add_argument("--decoder-only", action="store_true",
                        help="tokenizer: freeze the encoder and codebook, train the decoder (token ids stay valid)")
    parser.add_argument("--decoder-held-ids", action="store_true",
                        help="tokenizer --decoder-only: decode ids in which unchanged patches hold their previous id, "
                             "as a hold_unchanged_tokens dynamics model predicts them")
    parser.add_argument("--games", nargs="+", help="train on these games of the store only (default: all)")
    parser.add_argument("--window", type=int, default=16, help="frames per training clip (default 16)")
    parser.add_argument("--steps", type=int, default=10000, help="optimizer steps of the whole run (default 10000)")
    parser.add_argument("--batch-size", type=int, default=8, help="global clips per micro-step (default 8)")
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimizer step (default 1)")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"peak learning rate (default {DEFAULT_LR})")
    parser.add_argument(
        "--min-lr-ratio",
        type=float,
        default=MIN_LR_RATIO,
        help=f"cosine floor as a fraction of --lr (default {MIN_LR_RATIO}: 1e-4 -> 5e-5)",
    )
    parser.add_argument(
        "--warmup-steps",
        type=int,
        help=f"linear warm-up from 0.5*lr (default min({REFERENCE_WARMUP_STEPS}, steps // 10))",
    )
    parser.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY, help="AdamW decay on matrices")
    parser.add_argument("--grad-clip", type=float, default=DEFAULT_GRAD_CLIP, help="global grad-norm clip (0: off)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights, data order and masks")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from RUN_DIR's latest checkpoint; arguments not given are taken from RUN_DIR/args.json",
    )
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints (default 1000)")
    parser.add_argument("--keep-checkpoints", type=int, default=3, help="checkpoints kept (default: the last 3)")
    parser.add_argument("--log-every", type=int, default=10, help="steps between logged metrics (default 10)")
    parser.add_argument("--image-every", type=int, default=500, help="steps between image grids (0: none)")
    parser.add_argument(
        "--stop-at", type=int, help="stop (with a checkpoint) after this step; the schedule still spans --steps"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="autocast of the forward pass (default auto: bf16 on CUDA, fp32 on CPU); weights stay fp32",
    )
    parser.add_argument("--num-workers", type=int, help="DataLoader workers per process (default: 0 on CPU, 4 on CUDA)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Plug ``train`` into the ``genie`` command line (entry point ``genie_gym.commands``)."""
    parser = subparsers.add_parser(
        "train",
        help="train a tokenizer, LAM or dynamics model on an episode store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(parser)
    parser.set_defaults(func=run_train)


# Arguments that describe one invocation, not the run: never taken from a saved args.json.
_INVOCATION_ARGUMENTS = frozenset(
    {"command", "func", "resume", "stop_at", "debug", "device", "num_workers", "threads", "no_progress"}
)


def restore_run_arguments(args: argparse.Namespace) -> list[str]:
    """With ``--resume``, fill the arguments left at their defaults from the run's saved ``args.json``.

    So ``genie train tokenizer --resume --out RUN_DIR`` continues a run with the data, schedule, ``--init`` and
    ``--decoder-only`` it was started with. Arguments given with a non-default value win. Unless ``--config`` is
    given, the model config is read from the latest checkpoint, so a run started from a JSON config file that has
    since moved still resumes (and an ``--init`` directory that is gone is no longer needed).

    Returns the names of the restored arguments. Raises ``ValueError`` when the run was of another model.
    """
    from pathlib import Path

    from genie_gym.trainers.run_dir import RunDir

    run = RunDir(args.out)
    saved_path = run.root / "args.json"
    if not args.resume or not saved_path.is_file():
        return []
    saved: dict[str, Any] = json.loads(saved_path.read_text(encoding="utf-8")).get("args", {})
    if saved.get("model", args.model) != args.model:
        kind = saved["model"]
        raise ValueError(f"{args.out} is a {kind} run; resume it with `genie train {kind} --resume --out {args.out}`")
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    defaults = vars(parser.parse_args([args.model, "--out", str(args.out)]))
    config_given = args.config != defaults["config"]
    restored = []
    for name, value in saved.items():
        if name in _INVOCATION_ARGUMENTS or name not in defaults or getattr(args, name) != defaults[name]:
            continue
        if value != defaults[name]:
            setattr(args, name, value)
            restored.append(name)
    checkpoint = run.latest_checkpoint()
    if checkpoint is not None and not config_given:
        args.config = str(checkpoint / "config.json")  # the exact model config, whatever file it came from
        if args.init is not None and not Path(args.init).exists():
            args.init = None  # the weights come from the checkpoint anyway
    return restored


def _check_arguments(args: argparse.Namespace) -> None:
    """One clear error for arguments that cannot work, before anything heavy is loaded."""
    from pathlib import Path

    from genie_gym.trainers.run_dir import RunDir

    if args.data is None:
        raise ValueError("--data DIR is required (or --resume --out RUN_DIR of a run that recorded it)")
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"--data {args.data} does not exist; collect an episode store with `genie collect`")
    if args.model in ("dynamics", "genie-redux") and not args.tokenizer:
        raise ValueError(f"training {args.model} needs --tokenizer RUN_DIR (a trained tokenizer run or checkpoint)")
    if args.model == "genie-redux" and not args.lam:
        raise ValueError("training genie-redux needs --lam RUN_DIR (a trained latent action model run or checkpoint)")
    if args.model in ("tokenizer", "lam") and (args.tokenizer or args.lam):
        raise ValueError(f"--tokenizer/--lam are inputs of dynamics/genie-redux, not of {args.model}")
    if not args.resume and RunDir(args.out).latest_checkpoint() is not None:
        raise ValueError(
            f"{args.out} already holds checkpoints; pass --resume to continue that run or choose a new --out directory"
        )
    if args.window < 2:
        raise ValueError(f"--window must be >= 2 frames, got {args.window}")
    for name in ("checkpoint_every", "log_every", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def run_train(args: argparse.Namespace) -> int:
    """Run one training command (single process, or one rank under ``torchrun``); returns the exit status."""
    restore_run_arguments(args)
    _check_arguments(args)
    import torch

    from genie_gym.trainers.distributed import init_distributed, shutdown_distributed
    from genie_gym.trainers.run_dir import RunDir
    from genie_gym.trainers.tasks import build_task
    from genie_gym.trainers.training_loop import LoopSettings, train

    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(args.device)
    try:
        progress = not args.no_progress
        task = build_task(
            args.model,
            args.config,
            args.data,
            window=args.window,
            games=args.games,
            tokenizer=args.tokenizer,
            lam=args.lam,
            seed=args.seed,
            ctx=ctx,
            progress=progress,
            init=args.init,
            decoder_only=args.decoder_only,
            config_overrides=parse_config_overrides(args.config_set),
            decoder_held_ids=args.decoder_held_ids,
        )
        workers = args.num_workers if args.num_workers is not None else (4 if ctx.device.type == "cuda" else 0)
        settings = LoopSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            lr=args.lr,
            weight_decay=args.weight_decay,
            grad_clip=args.grad_clip,
            warmup_steps=args.warmup_steps,
            min_lr_ratio=args.min_lr_ratio,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep_checkpoints,
            log_every=args.log_every,
            image_every=args.image_every,
            num_workers=workers,
            stop_at_step=args.stop_at,
            progress=progress,
            precision=args.precision,
        )
        command_args: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "func"}
        result = train(task, settings, RunDir(args.out), ctx, resume=args.resume, command_args=command_args)
    finally:
        shutdown_distributed()
    if ctx.is_main:
        where = result.checkpoint or "(no checkpoint)"
        if result.interrupted:
            print(f"interrupted at step {result.step}; checkpoint {where}. Add --resume to continue.", file=sys.stderr)
        else:
            print(f"step {result.step}/{args.steps}: checkpoint {where}")
    return INTERRUPTED_EXIT if result.interrupted else 0
