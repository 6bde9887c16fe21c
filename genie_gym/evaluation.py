"""The evaluation protocol of the paper (appendix A.2, DESIGN.md §6).

Sequences of 12 frames are cut with stride 20 from held-out episodes; the model sees 2 context frames and predicts the
next 10 given all actions, either in one MaskGIT pass (``single``) or autoregressively (``autoregressive``, 2 frames at
a time by default). Reported: PSNR (per frame on [0, 1] images, averaged), SSIM, ΔPSNR at t = 4 (PSNR with the true
actions minus PSNR with each action replaced by a different random one, same sampling steps and seed), the tokenizer's
own reconstruction PSNR, and FID when a local Inception weights file is given.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

# every import at module level: the episode store and the FID network's code take ~15 ms once torch is loaded (the
# FID weights are read only when ``fid_weights`` is given), and `genie` imports this module for its parser anyway
from genie_gym.conventions import NUM_ACTIONS, validate_frames
from genie_gym.data.store import EpisodeStore
from genie_gym.fid import frechet_distance, inception_features, load_fid_inception
from genie_gym.image_grid import image_grid, write_png
from genie_gym.metrics import camera_shift, psnr, psnr_per_frame, ssim
from genie_gym.models.image_ops import frames_to_float
from genie_gym.options import option
from genie_gym.play import overlay_uncertainty
from genie_gym.sampling_options import given_sampling, sampling_option
from genie_gym.summary import mean_and_se
from genie_gym.uncertainty import sequence_uncertainty
from genie_gym.world_model import WorldModel


@dataclass
class EvalSettings:
    """Protocol settings (defaults are the paper's).

    The sampling settings (``maskgit_steps``, ``temperature``, ``action_guidance``, ``hold_pixels``,
    ``hold_tolerance``, ``hold_bias``, ``change_temperature``: :mod:`genie_gym.sampling_options`) are resolved like
    a dream's (:meth:`WorldModel.dream_settings`): ``None`` takes the world model's ``dream.json`` value, else
    :class:`~genie_gym.models.configs.DreamSettings`' default. ``maskgit_steps`` is the protocol's 25 (the paper's
    appendix A.2) unless set, whatever ``dream.json`` says, so evaluations of different world models compare.

    The fields declared with ``option()`` are ``genie eval``'s options (see :mod:`genie_gym.options`).
    """

    context_frames: int = 2
    predicted_frames: int = 10
    stride: int = 20
    delta_t: int = 4
    mode: str = option("single", choices=["single", "autoregressive"])
    frames_per_step: int = option(2, "frames generated at a time (autoregressive)")
    maskgit_steps: int | None = sampling_option("maskgit_steps", 25, "%(default)s, the protocol's, whatever the "
                                                                     "checkpoint's dream.json says")
    temperature: float | None = sampling_option("temperature")
    action_guidance: float | None = sampling_option("action_guidance")
    hold_pixels: bool | None = sampling_option("hold_pixels")
    hold_tolerance: int | None = sampling_option("hold_tolerance")
    hold_bias: float | None = sampling_option("hold_bias")
    change_temperature: float | None = sampling_option("change_temperature")
    max_sequences: int | None = option(None)
    batch_size: int = option(8)
    seed: int = option(0)

    @property
    def sequence_length(self) -> int:
        """Frames per evaluation sequence (12 by default)."""
        return self.context_frames + self.predicted_frames


@dataclass
class EvalResult:
    """The numbers of one evaluation (also written as JSON with these keys)."""

    psnr: float
    ssim: float
    delta_psnr: float
    tokenizer_psnr: float
    fid: float | None
    num_sequences: int
    action_gain: float | None = None
    # FID of the tokenizer's reconstructions of the same frames (the dynamics' frames go through the same decoder)
    tokenizer_fid: float | None = None
    delta_psnr_se: float | None = None  # standard error of ΔPSNR over the sequences (None for one sequence)
    action_gain_changed: float | None = None
    psnr_per_step: list[float] = field(default_factory=list)
    # mean PSNR of each sequence's predicted frames, in sequence order: paired comparisons of two models evaluated
    # with the same settings and seed (same sequences, same sampling noise)
    psnr_per_sequence: list[float] = field(default_factory=list)
    psnr_se: float | None = None  # standard error of the PSNR over sequences (per-sequence means)
    # the trivial baseline on the same sequences: the last context frame repeated for every predicted frame
    copy_psnr: float | None = None
    copy_ssim: float | None = None
    copy_tokenized_psnr: float | None = None  # the same, the repeated frame passed through the tokenizer first
    psnr_gain_over_copy: float | None = None  # mean over sequences of (model - copy) PSNR, paired
    psnr_gain_over_copy_se: float | None = None
    psnr_gain_over_copy_tokenized: float | None = None
    psnr_gain_over_copy_tokenized_se: float | None = None
    # {stratum: {n, psnr, copy_psnr, copy_tokenized_psnr, gain, gain_se}}; strata by motion_strata() and, for
    # SMB, camera_strata by the real camera's shift (a cross-check of the game-independent definition)
    strata: dict = field(default_factory=dict)
    camera_strata: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_json(self, path: str | Path) -> None:
        """Write the result as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def table(self) -> str:
        """A plain-text table for stdout."""
        fid = "not computed, no weights" if self.fid is None else f"{self.fid:.2f}"
        se = "" if self.psnr_se is None else f" ± {self.psnr_se:.2f}"
        rows = [("sequences", str(self.num_sequences)), ("PSNR", f"{self.psnr:.2f}{se} dB"),
                ("SSIM", f"{self.ssim:.4f}"),
                (f"ΔPSNR(t={self.settings.get('delta_t', 4)})", f"{self.delta_psnr:.3f} dB" + (
                    "" if self.delta_psnr_se is None else f" (± {self.delta_psnr_se:.3f} standard error over "
                                                          f"{self.num_sequences} sequences)")),
                ("tokenizer PSNR", f"{self.tokenizer_psnr:.2f} dB"), ("FID", fid)]
        if self.tokenizer_fid is not None:
            rows.append(("tokenizer FID", f"{self.tokenizer_fid:.2f}"))
        if self.copy_psnr is not None:
            rows += [("copy PSNR", f"{self.copy_psnr:.2f} dB, SSIM {self.copy_ssim:.4f} (last context frame repeated)"),
                     ("copy tokenized PSNR", f"{self.copy_tokenized_psnr:.2f} dB (the same through the tokenizer)"),
                     ("gain over copy", f"{self.psnr_gain_over_copy:+.2f} ± {self.psnr_gain_over_copy_se or 0:.2f} dB"),
                     ("gain over tok. copy", f"{self.psnr_gain_over_copy_tokenized:+.2f} ± "
                                             f"{self.psnr_gain_over_copy_tokenized_se or 0:.2f} dB")]
        for title, strata in (("stratum", self.strata), ("camera", self.camera_strata)):
            for name, row in strata.items():
                if row["n"]:
                    rows.append((f"{title} {name}", f"n {row['n']:>3}  PSNR {row['psnr']:.2f}  copy "
                                                    f"{row['copy_psnr']:.2f}  gain {row['gain']:+.2f} ± "
                                                    f"{row['gain_se']:.2f} dB"))
        if self.action_gain is not None:
            rows.append(("action gain", f"{self.action_gain:.4f} nats/token ({self.action_gain_changed:.4f} on "
                                        "changing tokens)"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def cut_sequences(frames: list[np.ndarray], actions: list[np.ndarray], length: int, stride: int,
                  max_sequences: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut every episode into windows of ``length`` frames starting every ``stride`` frames.

    With ``max_sequences``, that many windows are kept, evenly spaced over all of them (so every episode is
    represented, not just the first ones).

    Args:
        frames: per episode uint8 ``(T_i, 64, 64, 3)``; actions: per episode int ``(T_i - 1,)``.
    Returns:
        ``(frames uint8 (N, length, 64, 64, 3), actions int64 (N, length - 1))``.
    """
    out_frames, out_actions = [], []
    for episode_frames, episode_actions in zip(frames, actions, strict=True):
        for start in range(0, len(episode_frames) - length + 1, stride):
            out_frames.append(episode_frames[start : start + length])
            out_actions.append(episode_actions[start : start + length - 1])
    if not out_frames:
        raise ValueError(f"no episode is at least {length} frames long: nothing to evaluate")
    keep = range(len(out_frames))
    if max_sequences is not None and max_sequences < len(out_frames):
        keep = np.linspace(0, len(out_frames) - 1, max_sequences).round().astype(int)
    return (np.stack([np.asarray(out_frames[i]) for i in keep]),
            np.stack([np.asarray(out_actions[i], dtype=np.int64) for i in keep]))


def load_evaluation_data(source: str | Path, settings: EvalSettings, split: str = "val",
                         games: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation sequences from an episode store (its ``split``) or an interchange ``.npz`` file."""
    source = Path(source)
    if source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as data:
            if "frames" not in data or "actions" not in data:
                raise ValueError(f"{source} must hold 'frames' (E, T, 64, 64, 3) and 'actions' (E, T-1)")
            frames, actions = data["frames"], data["actions"]
        validate_frames(frames, f"{source} frames")
        episodes_frames, episodes_actions = list(frames), list(actions)
    else:
        store = EpisodeStore(source)
        episodes = list(store.iter_episodes(games, split=split))
        if not episodes:
            raise ValueError(f"{source} has no {split} episodes; run `genie collect` first or pass --split all")
        episodes_frames = [e.frames for e in episodes]
        episodes_actions = [e.actions for e in episodes]
    return cut_sequences(episodes_frames, episodes_actions, settings.sequence_length, settings.stride,
                         settings.max_sequences)


def evaluation_games(source: str | Path, split: str = "val", games: str | None = None) -> set[str] | None:
    """The games whose episodes :func:`load_evaluation_data` reads from ``source`` (``None`` for an interchange
    ``.npz``, which does not say). The SMB-only camera strata are reported when this is ``{"SMB"}``, whatever game
    the world model resets from by default (a multi-game model is evaluated on each game's own store)."""
    source = Path(source)
    if source.suffix == ".npz":
        return None
    return {ref.game for ref in EpisodeStore(source).refs(games, split)}


MOTION_PIXEL_THRESHOLD = 24
"""A pixel counts as changed when one of its channels differs by more than this (of 255): above the tokenizer's
reconstruction noise and JPEG-like ringing, below any sprite or scroll edge."""
MOTION_STRATA: tuple[tuple[str, float], ...] = (("still", 0.03), ("moving", 0.12), ("scrolling", float("inf")))
"""``(name, upper bound of the changed-pixel fraction)``, in order. "still": at most 3% of the pixels change (a
sprite moves on a still screen: Mario standing, blocked at a pipe, walking or dying where the camera stays);
"scrolling": more than 12% (the whole screen moves). Chosen on 620 validation windows of SMB 1-1 to agree best with
the camera's shift (``evals/motion_strata.py``: 83% of the windows fall in the same stratum by both)."""
CAMERA_STRATA: tuple[tuple[str, int], ...] = (("still", 0), ("moving", 7), ("scrolling", 10**9))
"""SMB only: ``(name, upper bound of the camera shift in px of the 64-wide frame)`` over the predicted frames."""


def motion_fraction(context_frame: np.ndarray, targets: np.ndarray, threshold: int = MOTION_PIXEL_THRESHOLD
                    ) -> np.ndarray:
    """How much the ground truth moves away from the last context frame: for each sequence, the mean over its
    predicted frames of the fraction of pixels that differ from ``context_frame`` (any channel by more than
    ``threshold``). Game-independent: it is how wrong the repeated-frame baseline is, counted in pixels.

    Args:
        context_frame: uint8 ``(N, H, W, 3)``, the last context frame of each sequence.
        targets: uint8 ``(N, T, H, W, 3)``, the ground-truth predicted frames.
    Returns:
        float64 ``(N,)`` in ``[0, 1]``.
    """
    difference = np.abs(targets.astype(np.int16) - context_frame[:, None].astype(np.int16)).max(axis=-1)
    return (difference > threshold).mean(axis=(2, 3)).mean(axis=1)


def assign_strata(values: np.ndarray, bounds: tuple[tuple[str, float], ...]) -> list[str]:
    """The name of the first stratum whose upper bound (inclusive) each value is under."""
    return [next(name for name, bound in bounds if value <= bound) for value in values]


def motion_strata(context_frame: np.ndarray, targets: np.ndarray) -> list[str]:
    """``"still"`` / ``"moving"`` / ``"scrolling"`` for each sequence, by :func:`motion_fraction` and
    :data:`MOTION_STRATA`; shapes as in :func:`motion_fraction`."""
    return assign_strata(motion_fraction(context_frame, targets), MOTION_STRATA)


def camera_strata(context_frame: np.ndarray, targets: np.ndarray) -> list[str]:
    """SMB: the strata by the camera's shift from the last context frame to the last predicted ground-truth frame
    (:func:`genie_gym.metrics.camera_shift`, at most 32 px), and :data:`CAMERA_STRATA`."""
    shifts = np.array([camera_shift(c, t[-1]) for c, t in zip(context_frame, targets, strict=True)])
    return assign_strata(shifts, CAMERA_STRATA)


def stratum_table(names: list[str], order: tuple[tuple[str, float], ...], model: np.ndarray, copy: np.ndarray,
                  copy_tokenized: np.ndarray) -> dict:
    """``{stratum: {n, psnr, copy_psnr, copy_tokenized_psnr, gain, gain_se}}`` from per-sequence PSNRs (dB)."""
    table = {}
    labels = np.array(names)
    for name, _ in order:
        pick = labels == name
        n = int(pick.sum())
        if not n:
            table[name] = {"n": 0}
            continue
        gain, gain_se = mean_and_se(model[pick] - copy[pick])
        table[name] = {"n": n, "psnr": float(model[pick].mean()), "copy_psnr": float(copy[pick].mean()),
                       "copy_tokenized_psnr": float(copy_tokenized[pick].mean()), "gain": gain,
                       "gain_se": gain_se if gain_se is not None else 0.0}
    return table


def different_random_actions(actions: np.ndarray, rng: np.random.Generator,
                             num_actions: int = NUM_ACTIONS) -> np.ndarray:
    """Replace every action by a uniformly drawn *different* one of ``num_actions`` (int64, same shape)."""
    offsets = rng.integers(1, num_actions, size=actions.shape)
    return (actions + offsets) % num_actions


@dataclass
class Predictions:
    """What the model made of the evaluation sequences (:func:`predict_sequences`).

    Attributes:
        prediction / random_prediction: uint8 ``(N, predicted, 64, 64, 3)``, with the true / the replaced actions.
        reconstruction: uint8 ``(N, T, 64, 64, 3)``, the tokenizer's round trip of the sequences.
        actions / random_actions: int64 ``(N, T - 1)``, the actions the model was given (a GenieRedux model's: the
            latent ids its LAM inferred).
        gains: ``(sequences, Dynamics.action_gain)`` per batch of a GenieRedux-G model.
    """

    prediction: np.ndarray
    random_prediction: np.ndarray
    reconstruction: np.ndarray
    actions: np.ndarray
    random_actions: np.ndarray
    gains: list[tuple[int, dict[str, float]]]


def evaluate(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray, settings: EvalSettings,
             fid_weights: str | Path | None = None, grid_path: str | Path | None = None,
             grid_overlay: bool = False, data_games: set[str] | None = None) -> EvalResult:
    """Run the protocol on sequences ``frames`` uint8 ``(N, 12, 64, 64, 3)`` / ``actions`` ``(N, 11)``.

    A GenieRedux (latent-action) world model is given the latent actions its LAM reads off each ground-truth
    sequence instead of ``actions`` (as the paper evaluates GenieRedux); ΔPSNR's random actions are then random latent
    ids. Its ``settings["actions"]`` in the result says which.

    ``grid_path``: also write :func:`write_comparison_grid` there; ``grid_overlay``: with the heat map of each
    predicted frame's uncertainty over it (:func:`grid_uncertainty`). ``data_games``: the games the sequences come
    from (:func:`evaluation_games`); the camera strata are SMB's, so they are reported when it is ``{"SMB"}``, or,
    when it is not known (``None``), when the world model's default game is SMB.
    """
    latent = world_model.action_source == "latent"
    if latent and world_model.lam is None:
        raise ValueError("a GenieRedux (latent-action) world model is evaluated with the actions its LAM infers from "
                         "the frames; pack the LAM into it: genie world-model pack ... --lam LAM_RUN")
    if grid_overlay and grid_path is None:
        raise ValueError("grid_overlay draws the uncertainty over the comparison grid: give grid_path too "
                         "(genie eval --grid FILE.png --grid-overlay)")
    predictions = predict_sequences(world_model, frames, actions, settings)
    result = score_predictions(frames, predictions, settings, fid_weights,
                               smb=data_games == {"SMB"} if data_games is not None
                               else world_model.settings.get("game") == "SMB")
    result.settings = {**asdict(settings), "actions": "latent (inferred by the LAM)" if latent else "recorded"}
    if predictions.gains:
        total = sum(count for count, _ in predictions.gains)
        result.action_gain = sum(count * g["action_gain"] for count, g in predictions.gains) / total
        result.action_gain_changed = sum(count * g["action_gain_changed"] for count, g in predictions.gains) / total
    if grid_path is not None:
        context = settings.context_frames
        maps = grid_uncertainty(world_model, frames, predictions) if grid_overlay else (None, None)
        write_comparison_grid(grid_path, frames[:, context:], predictions.prediction, predictions.random_prediction,
                              uncertainty=maps[0], random_uncertainty=maps[1])
    return result


def predict_sequences(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray,
                      settings: EvalSettings) -> Predictions:
    """Predict every sequence's frames after its context, in batches of ``settings.batch_size``: with its actions and
    with each action from the last context frame on replaced by a different random one (ΔPSNR; the same sampling
    noise for both), and the tokenizer's round trip and, for a GenieRedux-G model, the action gain of each batch."""
    context, predicted = settings.context_frames, settings.predicted_frames
    sampling = world_model.dream_settings(**given_sampling(settings))  # context_frames is the protocol's
    rng = np.random.default_rng(settings.seed)
    measures_gain = getattr(world_model.dynamics.config, "action_source", None) == "ground_truth"
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ("prediction", "random_prediction", "reconstruction",
                                                                "actions", "random_actions")}
    gains: list[tuple[int, dict[str, float]]] = []
    for start in range(0, len(frames), settings.batch_size):
        batch_frames = frames[start : start + settings.batch_size]
        batch_actions = actions[start : start + settings.batch_size]
        if world_model.action_source == "latent":
            batch_actions = world_model.infer_actions(batch_frames)
        fake_actions = batch_actions.copy()
        fake_actions[:, context - 1 :] = different_random_actions(batch_actions[:, context - 1 :], rng,
                                                                  world_model.num_actions)
        batch_seed = settings.seed * 1_000_003 + start
        for name, acts in (("prediction", batch_actions), ("random_prediction", fake_actions)):
            generator = torch.Generator().manual_seed(batch_seed)  # same sampling noise for both
            predicted_frames, _ = world_model.predict(
                batch_frames[:, :context], acts, predicted, mode=settings.mode,
                frames_per_step=settings.frames_per_step, sampling=sampling, generator=generator)
            parts[name].append(predicted_frames)
        parts["actions"].append(np.asarray(batch_actions, dtype=np.int64))
        parts["random_actions"].append(np.asarray(fake_actions, dtype=np.int64))
        tokens = world_model.encode(batch_frames)
        parts["reconstruction"].append(world_model.decode(tokens))  # the tokenizer round trip
        if measures_gain:
            gains.append((len(batch_frames), action_gain(world_model, tokens, batch_actions, batch_seed)))
    return Predictions(**{name: np.concatenate(values) for name, values in parts.items()}, gains=gains)


def action_gain(world_model: WorldModel, tokens: torch.Tensor, actions: np.ndarray, seed: int) -> dict[str, float]:
    """``Dynamics.action_gain``: the masked-token cross-entropy with replaced vs true actions, on a training-like mask
    drawn with ``seed``."""
    dynamics = world_model.dynamics
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mask = dynamics.sample_mask(tokens.shape[0], tokens.shape[1], generator=generator, visible_prefix_prob=0.0)
        return dynamics.action_gain(tokens, torch.from_numpy(actions).to(tokens.device), mask.to(tokens.device),
                                    generator=generator)


def score_predictions(frames: np.ndarray, predictions: Predictions, settings: EvalSettings,
                      fid_weights: str | Path | None = None, smb: bool = False) -> EvalResult:
    """The protocol's numbers of :func:`predict_sequences`' output against the ground-truth ``frames``: PSNR / SSIM
    (per step and per sequence), ΔPSNR at ``delta_t``, the tokenizer's PSNR, FID (with ``fid_weights``), the copy
    baselines and the motion strata (and, for SMB, the camera strata). ``settings`` and the action gain are left to
    the caller."""
    context, predicted = settings.context_frames, settings.predicted_frames
    prediction, reconstruction = predictions.prediction, predictions.reconstruction
    target_f = frames_to_float(torch.from_numpy(frames[:, context:]))
    pred_f = frames_to_float(torch.from_numpy(prediction))
    random_f = frames_to_float(torch.from_numpy(predictions.random_prediction))
    frame_psnr = psnr_per_frame(pred_f, target_f).reshape(len(frames), predicted)  # (N, predicted)
    per_step, per_sequence = frame_psnr.mean(dim=0), frame_psnr.mean(dim=1)
    t = settings.delta_t - 1
    # ΔPSNR is the mean over sequences of a paired difference (same sampling noise): report its standard error too
    delta_per_sequence = psnr_per_frame(pred_f[:, t], target_f[:, t]) - psnr_per_frame(random_f[:, t], target_f[:, t])
    delta_se = float(delta_per_sequence.std() / len(frames) ** 0.5) if len(frames) > 1 else None
    fid_value, tokenizer_fid = fid_scores(frames, prediction, reconstruction, context, fid_weights)
    tokenizer_psnr = psnr(frames_to_float(torch.from_numpy(reconstruction)), frames_to_float(torch.from_numpy(frames)))
    # the trivial baselines: the last context frame repeated, raw and through the tokenizer
    copy_f = frames_to_float(torch.from_numpy(np.repeat(frames[:, context - 1 : context], predicted, axis=1)))
    copy_tok_f = frames_to_float(torch.from_numpy(
        np.repeat(reconstruction[:, context - 1 : context], predicted, axis=1)))
    copy_per_sequence = psnr_per_frame(copy_f, target_f).reshape(len(frames), predicted).mean(dim=1).numpy()
    copy_tok_per_sequence = psnr_per_frame(copy_tok_f, target_f).reshape(len(frames), predicted).mean(dim=1).numpy()
    model_per_sequence = per_sequence.numpy()
    gain, gain_se = mean_and_se(model_per_sequence - copy_per_sequence)
    gain_tok, gain_tok_se = mean_and_se(model_per_sequence - copy_tok_per_sequence)
    context_frame, targets = frames[:, context - 1], frames[:, context:]
    strata = stratum_table(motion_strata(context_frame, targets), MOTION_STRATA, model_per_sequence,
                           copy_per_sequence, copy_tok_per_sequence)
    camera = stratum_table(camera_strata(context_frame, targets), CAMERA_STRATA, model_per_sequence,
                           copy_per_sequence, copy_tok_per_sequence) if smb else {}
    return EvalResult(
        psnr=psnr(pred_f, target_f), psnr_se=mean_and_se(model_per_sequence)[1],
        copy_psnr=float(copy_per_sequence.mean()), copy_ssim=ssim(copy_f, target_f),
        copy_tokenized_psnr=float(copy_tok_per_sequence.mean()), psnr_gain_over_copy=gain,
        psnr_gain_over_copy_se=gain_se, psnr_gain_over_copy_tokenized=gain_tok,
        psnr_gain_over_copy_tokenized_se=gain_tok_se, strata=strata, camera_strata=camera,
        ssim=ssim(pred_f, target_f), delta_psnr=float(delta_per_sequence.mean()), delta_psnr_se=delta_se,
        tokenizer_psnr=tokenizer_psnr, fid=fid_value, tokenizer_fid=tokenizer_fid, num_sequences=len(frames),
        psnr_per_step=[float(v) for v in per_step],
        psnr_per_sequence=[float(v) for v in per_sequence],
    )


def fid_scores(frames: np.ndarray, prediction: np.ndarray, reconstruction: np.ndarray, context: int,
               fid_weights: str | Path | None) -> tuple[float | None, float | None]:
    """``(FID of the predicted frames, FID of the tokenizer's reconstructions of the same frames)``, both over all
    predicted frames (N x 10) against the ground-truth frames; ``(None, None)`` without ``fid_weights``."""
    if fid_weights is None:
        return None, None
    inception = load_fid_inception(fid_weights)
    real_features = inception_features(inception, frames[:, context:].reshape(-1, *frames.shape[2:]))
    fid_value = frechet_distance(inception_features(inception, prediction.reshape(-1, *prediction.shape[2:])),
                                 real_features)
    tokenizer_fid = frechet_distance(
        inception_features(inception, reconstruction[:, context:].reshape(-1, *frames.shape[2:])), real_features)
    return fid_value, tokenizer_fid


GRID_SEQUENCES = 4
"""Sequences :func:`write_comparison_grid` shows."""


def grid_uncertainty(world_model: WorldModel, frames: np.ndarray, predictions: Predictions,
                     sequences: int = GRID_SEQUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The uncertainty maps of the first ``sequences``' predicted frames, float32 ``(n, predicted, h, w)`` for the
    prediction and for the random-action one: each frame's is the reward a dream pays for it
    (:func:`~genie_gym.uncertainty.sequence_uncertainty`: the 2 frames before it, context or predicted, and the
    action the model was given), what ``genie play``'s overlay shows over a dreamed frame."""
    context = frames.shape[1] - predictions.prediction.shape[1]
    count = min(sequences, len(frames))
    maps = []
    for prediction, actions in ((predictions.prediction, predictions.actions),
                                (predictions.random_prediction, predictions.random_actions)):
        clips = np.concatenate([frames[:count, :context], prediction[:count]], axis=1)
        maps.append(sequence_uncertainty(world_model, clips, actions[:count])[1][:, context - 1 :])
    return maps[0], maps[1]


def write_comparison_grid(path: str | Path, target: np.ndarray, prediction: np.ndarray, random_prediction: np.ndarray,
                          sequences: int = GRID_SEQUENCES, scale: int = 2, uncertainty: np.ndarray | None = None,
                          random_uncertainty: np.ndarray | None = None) -> Path:
    """PNG: for each of the first ``sequences``, three rows — ground truth / prediction / random-action prediction —,
    the sequences apart by white bands; frames upscaled ``scale`` times. ``uncertainty`` / ``random_uncertainty``
    (float ``(n >= sequences shown, predicted, h, w)``, :func:`grid_uncertainty`): heat maps drawn over the
    prediction / the random-action prediction (:func:`genie_gym.play.overlay_uncertainty`); the ground truth is never
    covered."""
    shown = min(sequences, len(target))
    rows = [prediction[:shown], random_prediction[:shown]]
    for index, maps in enumerate((uncertainty, random_uncertainty)):
        if maps is not None:
            rows[index] = np.stack([[overlay_uncertainty(frame, frame_map) for frame, frame_map in
                                     zip(frames, sequence_maps, strict=True)]
                                    for frames, sequence_maps in zip(rows[index], maps[:shown], strict=True)])
    blocks = [image_grid([target[i], rows[0][i], rows[1][i]], scale=scale) for i in range(shown)]
    return write_png(path, image_grid([[block] for block in blocks], gap=4 * scale, margin=0))
