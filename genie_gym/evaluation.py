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

from genie_gym.conventions import NUM_ACTIONS, validate_frames
from genie_gym.metrics import psnr, psnr_per_frame, ssim
from genie_gym.models.image_ops import frames_to_float
from genie_gym.world_model import WorldModel


@dataclass
class EvalSettings:
    """Protocol settings (defaults are the paper's)."""

    context_frames: int = 2
    predicted_frames: int = 10
    stride: int = 20
    delta_t: int = 4
    mode: str = "single"
    frames_per_step: int = 2
    maskgit_steps: int = 25
    temperature: float | None = None
    action_guidance: float | None = None  # None: the checkpoint's dream.json (0 unless set there)
    batch_size: int = 8
    max_sequences: int | None = None
    seed: int = 0

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
    settings: dict = field(default_factory=dict)

    def to_json(self, path: str | Path) -> None:
        """Write the result as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def table(self) -> str:
        """A plain-text table for stdout."""
        fid = "not computed, no weights" if self.fid is None else f"{self.fid:.2f}"
        rows = [("sequences", str(self.num_sequences)), ("PSNR", f"{self.psnr:.2f} dB"), ("SSIM", f"{self.ssim:.4f}"),
                (f"ΔPSNR(t={self.settings.get('delta_t', 4)})", f"{self.delta_psnr:.3f} dB" + (
                    "" if self.delta_psnr_se is None else f" (± {self.delta_psnr_se:.3f} standard error over "
                                                          f"{self.num_sequences} sequences)")),
                ("tokenizer PSNR", f"{self.tokenizer_psnr:.2f} dB"), ("FID", fid)]
        if self.tokenizer_fid is not None:
            rows.append(("tokenizer FID", f"{self.tokenizer_fid:.2f}"))
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
        from genie_gym.data.store import EpisodeStore

        store = EpisodeStore(source)
        episodes = list(store.iter_episodes(games, split=split))
        if not episodes:
            raise ValueError(f"{source} has no {split} episodes; run `genie collect` first or pass --split all")
        episodes_frames = [e.frames for e in episodes]
        episodes_actions = [e.actions for e in episodes]
    return cut_sequences(episodes_frames, episodes_actions, settings.sequence_length, settings.stride,
                         settings.max_sequences)


def different_random_actions(actions: np.ndarray, rng: np.random.Generator,
                             num_actions: int = NUM_ACTIONS) -> np.ndarray:
    """Replace every action by a uniformly drawn *different* one of ``num_actions`` (int64, same shape)."""
    offsets = rng.integers(1, num_actions, size=actions.shape)
    return (actions + offsets) % num_actions


def evaluate(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray, settings: EvalSettings,
             fid_weights: str | Path | None = None, grid_path: str | Path | None = None) -> EvalResult:
    """Run the protocol on sequences ``frames`` uint8 ``(N, 12, 64, 64, 3)`` / ``actions`` ``(N, 11)``.

    A GenieRedux (latent-action) world model is given the latent actions its LAM reads off each ground-truth
    sequence instead of ``actions`` (as the paper evaluates GenieRedux); ΔPSNR's random actions are then random latent
    ids. Its ``settings["actions"]`` in the result says which.
    """
    latent = world_model.action_source == "latent"
    if latent and world_model.lam is None:
        raise ValueError("a GenieRedux (latent-action) world model is evaluated with the actions its LAM infers from "
                         "the frames; pack the LAM into it: genie world-model pack ... --lam LAM_RUN")
    context, predicted = settings.context_frames, settings.predicted_frames
    rng = np.random.default_rng(settings.seed)
    predictions, random_predictions, recon = [], [], []
    dynamics = world_model.dynamics
    measures_gain = getattr(dynamics.config, "action_source", None) == "ground_truth"
    gains: list[tuple[int, dict[str, float]]] = []
    for start in range(0, len(frames), settings.batch_size):
        batch_frames = frames[start : start + settings.batch_size]
        batch_actions = actions[start : start + settings.batch_size]
        if latent:
            batch_actions = world_model.infer_actions(batch_frames)
        fake_actions = batch_actions.copy()
        fake_actions[:, context - 1 :] = different_random_actions(batch_actions[:, context - 1 :], rng,
                                                                  world_model.num_actions)
        batch_seed = settings.seed * 1_000_003 + start
        outputs = []
        for acts in (batch_actions, fake_actions):
            generator = torch.Generator().manual_seed(batch_seed)  # same sampling noise for both
            predicted_frames, _ = world_model.predict(
                batch_frames[:, :context], acts, predicted, mode=settings.mode,
                frames_per_step=settings.frames_per_step, maskgit_steps=settings.maskgit_steps,
                temperature=settings.temperature, generator=generator, action_guidance=settings.action_guidance)
            outputs.append(predicted_frames)
        predictions.append(outputs[0])
        random_predictions.append(outputs[1])
        tokens = world_model.encode(batch_frames)
        recon.append(world_model.decode(tokens))  # the tokenizer round trip
        if measures_gain:  # masked-token CE with replaced vs true actions, on a training-like mask
            generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + start)
            with torch.no_grad():
                mask = dynamics.sample_mask(tokens.shape[0], tokens.shape[1], generator=generator,
                                            visible_prefix_prob=0.0)
                gains.append((len(batch_frames), dynamics.action_gain(
                    tokens, torch.from_numpy(batch_actions).to(tokens.device), mask.to(tokens.device),
                    generator=generator)))
    prediction = np.concatenate(predictions)
    random_prediction = np.concatenate(random_predictions)
    reconstruction = np.concatenate(recon)
    target = torch.from_numpy(frames[:, context:])
    target_f, pred_f = frames_to_float(target), frames_to_float(torch.from_numpy(prediction))
    random_f = frames_to_float(torch.from_numpy(random_prediction))
    frame_psnr = psnr_per_frame(pred_f, target_f).reshape(len(frames), predicted)  # (N, predicted)
    per_step, per_sequence = frame_psnr.mean(dim=0), frame_psnr.mean(dim=1)
    t = settings.delta_t - 1
    # ΔPSNR is the mean over sequences of a paired difference (same sampling noise): report its standard error too
    delta_per_sequence = psnr_per_frame(pred_f[:, t], target_f[:, t]) - psnr_per_frame(random_f[:, t], target_f[:, t])
    delta = delta_per_sequence.mean()
    delta_se = float(delta_per_sequence.std() / len(frames) ** 0.5) if len(frames) > 1 else None
    fid_value = tokenizer_fid = None
    if fid_weights is not None:  # over all predicted frames (N x 10), against the same ground-truth frames
        from genie_gym.fid import frechet_distance, inception_features, load_fid_inception

        inception = load_fid_inception(fid_weights)
        real_features = inception_features(inception, frames[:, context:].reshape(-1, *frames.shape[2:]))
        fid_value = frechet_distance(
            inception_features(inception, prediction.reshape(-1, *prediction.shape[2:])), real_features)
        tokenizer_fid = frechet_distance(
            inception_features(inception, reconstruction[:, context:].reshape(-1, *frames.shape[2:])), real_features)
    tokenizer_psnr = psnr(frames_to_float(torch.from_numpy(reconstruction)), frames_to_float(torch.from_numpy(frames)))
    result = EvalResult(
        psnr=psnr(pred_f, target_f), ssim=ssim(pred_f, target_f), delta_psnr=float(delta), delta_psnr_se=delta_se,
        tokenizer_psnr=tokenizer_psnr, fid=fid_value, tokenizer_fid=tokenizer_fid, num_sequences=len(frames),
        psnr_per_step=[float(v) for v in per_step],
        psnr_per_sequence=[float(v) for v in per_sequence],
        settings={**asdict(settings), "actions": "latent (inferred by the LAM)" if latent else "recorded"},
    )
    if gains:
        total = sum(count for count, _ in gains)
        result.action_gain = sum(count * g["action_gain"] for count, g in gains) / total
        result.action_gain_changed = sum(count * g["action_gain_changed"] for count, g in gains) / total
    if grid_path is not None:
        write_comparison_grid(grid_path, frames[:, context:], prediction, random_prediction)
    return result


def write_comparison_grid(path: str | Path, target: np.ndarray, prediction: np.ndarray, random_prediction: np.ndarray,
                          sequences: int = 4, scale: int = 2) -> Path:
    """PNG: for each of the first ``sequences``, three rows — ground truth / prediction / random-action prediction."""
    import cv2

    rows = []
    for i in range(min(sequences, len(target))):
        for row in (target[i], prediction[i], random_prediction[i]):
            rows.append(np.concatenate(list(row), axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    grid = np.concatenate(rows, axis=0)
    grid = cv2.resize(grid, (grid.shape[1] * scale, grid.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid[:, :, ::-1])
    return path
