"""Does the dream answer its actions? Held RIGHT / LEFT / DOWN / JUMP, Mario's walk and jump, against the real game.

For each held-out episode it finds the first moment (after frame 20) where the real camera scrolls on two
consecutive steps, starts a dream from those two real frames, holds one action for ``--steps`` steps and measures how
far the dreamed level moved: the horizontal shift (pixels) that best aligns the ground band of the last dreamed frame
with the first. It also dreams from the level's first screen (the real game's reset). A model that answers its
actions scrolls further with RIGHT than with LEFT or DOWN (JUMP keeps the momentum Mario had, as in the game).

Mario's persistence from the level's first screen: the real game and the dream both hold RIGHT for 8 steps (the
real camera starts scrolling after that); the first screen's background is the per-pixel median of the real
frames, and a frame's sprite pixels are those that differ from it (Mario; about 10 in a real frame). A dream that
loses Mario drops to ~0. The same measure, with the dream started from real frames where Mario already walks (after
2 and 4 steps of RIGHT), tells a dream that cannot start a walk from one that cannot keep one going. JUMP is held
from the level start and from those walking starts, and the rise of the sprite's mean row measures the jump.

Action sensitivity: at those first-screen moments the real game takes each action once; at Mario's tokens, the
probability the model gives each of these real next frames under each action (one MaskGIT pass): a model that uses
its action for Mario's own motion gives each real outcome the most probability under the action that caused it.
(Only Mario's tokens count: the blinking question blocks change many tokens whatever the action.)

The dream takes dream.json's settings but 1 MaskGIT step (the real-time setting of ``genie play``);
``--set KEY=VALUE`` changes any of them but the game, ``--set maskgit_steps=8`` the number of steps.

    genie probe control --data data/smb_right_test --episodes 4
    genie probe control --checkpoint runs/my_world_model --set maskgit_steps=8 --set action_guidance=2
    genie probe control --set maskgit_steps=8 --walk-seeds 12   # + the walk, one dream per seed 100..111
    genie probe control --set maskgit_steps=8 --brake-probe     # + when a DOWN-held dream stops
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import genie_gym
from genie_gym.conventions import ACTION_NAMES
from genie_gym.metrics import camera_shift
from genie_gym.models.configs import DreamSettings
from genie_gym.options import from_args, option
from genie_gym.probes import apply_dream_overrides, dream_overrides_option, parse_dream_overrides
from genie_gym.summary import mean_and_se

HELD = ("RIGHT", "LEFT", "DOWN", "JUMP")
PLAY_AREA = slice(8, 56)  # rows below the score line and above the ground
STILL_CAMERA_STEPS = 8  # holding RIGHT from the level start, the real camera stays still this long
DEFAULT_OVERRIDES: dict[str, object] = {"maskgit_steps": 1}
"""``--set`` overrides of ``genie probe control`` where the user sets none of that key: 1 MaskGIT step, the real-time
setting of ``genie play`` and the cheapest on a CPU, rather than dream.json's."""
FIXED_KEYS = ("game",)
"""``dream.json`` keys that ``control`` and ``hold-from-start`` cannot ``--set``: they play the real SMB next to the
dream, and a dream env reads its game once, when made."""


def scrolling_moment(frames: np.ndarray, start: int = 20) -> int | None:
    """First ``t >= start`` where the real camera moves on both steps ``t-1 -> t`` and ``t -> t+1``."""
    for t in range(start, len(frames) - 1):
        if camera_shift(frames[t - 1], frames[t], 4) > 0 and camera_shift(frames[t], frames[t + 1], 4) > 0:
            return t
    return None


def sprite_mask(frames: np.ndarray, background: np.ndarray, threshold: int = 80) -> np.ndarray:
    """Bool ``(N, 64, 64)``: the sprite pixels of the play area, those that differ from ``background`` (summed RGB
    difference > ``threshold``); False outside :data:`PLAY_AREA`. frames: uint8 ``(N, 64, 64, 3)``; background:
    uint8 ``(64, 64, 3)``."""
    mask = np.zeros(frames.shape[:3], dtype=bool)
    diff = np.abs(frames[:, PLAY_AREA].astype(np.int32) - background[PLAY_AREA].astype(np.int32)).sum(-1)
    mask[:, PLAY_AREA] = diff > threshold
    return mask


def sprite_stats(frames: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of ``frames`` uint8 ``(N, 64, 64, 3)``: the number of sprite pixels (:func:`sprite_mask`) int
    ``(N,)`` and their mean column float ``(N,)`` (NaN where there are none)."""
    mask = sprite_mask(frames, background)
    counts = mask.sum(axis=(1, 2))
    columns = (mask * np.arange(mask.shape[2])).sum(axis=(1, 2))
    return counts, np.where(counts > 0, columns / np.maximum(counts, 1), np.nan)


def rollout(env, reset_options: dict | None, action: int, steps: int, seed: int) -> np.ndarray:
    """Frames ``(steps + 1, 64, 64, 3)`` of ``env`` holding ``action`` after ``env.reset(seed, options)``."""
    obs, _ = env.reset(seed=seed, options=reset_options)
    frames = [obs]
    for _ in range(steps):
        obs, *_ = env.step(action)
        frames.append(obs)
    return np.stack(frames)


@contextmanager
def real_smb() -> Iterator[gym.Env]:
    """The real game (``GenieRetro-SMB-v0``), closed on leaving: the process's one emulator is free again."""
    env = gym.make("GenieRetro-SMB-v0")
    try:
        yield env
    finally:
        env.close()


def real_right_from_start() -> np.ndarray:
    """Frames uint8 ``(STILL_CAMERA_STEPS + 1, 64, 64, 3)`` of the real game holding RIGHT from the level start (the
    camera is still throughout)."""
    with real_smb() as real_env:
        return rollout(real_env, None, ACTION_NAMES.index("RIGHT"), STILL_CAMERA_STEPS, 0)


def mario_persistence(dream_env, real: np.ndarray, seeds: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Sprite pixels and sprite column per step ``(STILL_CAMERA_STEPS + 1,)`` of the real game (``real``, from
    :func:`real_right_from_start`) and (mean over ``seeds``) of the dream, both holding RIGHT from the level start:
    ``(real pixels, dream pixels, real x, dream x)``."""
    right = ACTION_NAMES.index("RIGHT")
    background = np.median(real, axis=0).astype(np.uint8)
    dreams = [sprite_stats(rollout(dream_env, None, right, STILL_CAMERA_STEPS, s), background) for s in seeds]
    real_pixels, real_x = sprite_stats(real, background)
    dream_pixels = np.mean([pixels for pixels, _ in dreams], axis=0)
    dream_x = np.nanmean([x for _, x in dreams], axis=0)
    return real_pixels, dream_pixels, real_x, dream_x


def walk_per_seed(dream_env, real: np.ndarray, seeds: tuple[int, ...]) -> np.ndarray:
    """How far (px) the dreamed Mario's column moves over :data:`STILL_CAMERA_STEPS` steps of RIGHT from the level
    start, one dream per seed ``(len(seeds),)`` (NaN where Mario is missing from the first or last frame);
    ``real``: from :func:`real_right_from_start`. A dream walks about +8 px like the game, or stands at ~0."""
    moved = []
    for seed in seeds:
        _, _, _, dream_x = mario_persistence(dream_env, real, (seed,))
        moved.append(dream_x[-1] - dream_x[0])
    return np.asarray(moved, dtype=np.float64)


def sprite_rise(frames: np.ndarray, background: np.ndarray) -> float:
    """Largest rise (pixels) of the sprite pixels' mean row above its row in the first of ``frames`` (uint8
    ``(N, 64, 64, 3)``; sprites: :func:`sprite_mask` against ``background``); NaN without a sprite."""
    diff = sprite_mask(frames, background)
    counts = diff.sum(axis=(1, 2))
    rows = (diff * np.arange(diff.shape[1])[:, None]).sum(axis=(1, 2)) / np.maximum(counts, 1)
    rows = np.where(counts > 0, rows, np.nan)
    return float(np.nanmax(rows[0] - rows[1:])) if counts[0] > 0 and (counts[1:] > 0).any() else float("nan")


def jump_heights(dream_env, real: np.ndarray, seeds: tuple[int, ...], after: int = 0) -> tuple[float, float]:
    """How high Mario jumps when JUMP is held up to step ``STILL_CAMERA_STEPS``: from the level start
    (``after=0``), or from a run (the real game first holds RIGHT for ``after`` steps and the dream starts from its
    frames ``after-1, after``). Returns :func:`sprite_rise` in the real game and (mean over ``seeds``) in the dream;
    the background is the median of ``real`` (from :func:`real_right_from_start`)."""
    jump, right = ACTION_NAMES.index("JUMP"), ACTION_NAMES.index("RIGHT")
    background = np.median(real, axis=0).astype(np.uint8)
    horizon = STILL_CAMERA_STEPS - after
    with real_smb() as real_env:
        obs, _ = real_env.reset(seed=0)
        for _ in range(after):
            obs, *_ = real_env.step(right)
        real_frames = [obs] + [real_env.step(jump)[0] for _ in range(horizon)]
    real_rise = sprite_rise(np.stack(real_frames), background)
    options = None if after == 0 else {"frames": real[after - 1 : after + 1], "actions": np.array([right])}
    dreams = [sprite_rise(rollout(dream_env, options, jump, horizon, s), background) for s in seeds]
    return real_rise, float(np.nanmean(dreams))


def walking_starts(dream_env, real: np.ndarray, ks: tuple[int, ...],
                   seeds: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """Mario's walk when the dream starts from real frames where he already walks: the real game holds RIGHT for
    ``k`` steps from the level start, the dream takes its frames ``k-1, k`` (and the RIGHT between them) and holds
    RIGHT until step ``STILL_CAMERA_STEPS`` (the camera is still up to there). Returns, per ``k``, ``(k, real
    displacement, dream displacement)`` of the sprite column in pixels (dream: mean over ``seeds``); ``real``: from
    :func:`real_right_from_start`."""
    right = ACTION_NAMES.index("RIGHT")
    background = np.median(real, axis=0).astype(np.uint8)
    _, real_x = sprite_stats(real, background)
    rows = []
    for k in ks:
        options = {"frames": real[k - 1 : k + 1], "actions": np.array([right])}
        horizon = STILL_CAMERA_STEPS - k
        dream_x = [sprite_stats(rollout(dream_env, options, right, horizon, s), background)[1] for s in seeds]
        moved = np.nanmean([x[-1] - x[0] for x in dream_x])
        rows.append((k, float(real_x[-1] - real_x[k]), float(moved)))
    return rows


def real_branches(k: int) -> np.ndarray:
    """Frames uint8 ``(A, 64, 64, 3)``: the real game holds RIGHT for ``k`` steps from the level start, then takes
    action ``a`` once; row ``a`` is the frame that follows."""
    right = ACTION_NAMES.index("RIGHT")
    branches = []
    with real_smb() as real_env:
        for action in range(len(ACTION_NAMES)):
            real_env.reset(seed=0)
            for _ in range(k):
                real_env.step(right)
            obs, *_ = real_env.step(action)
            branches.append(obs)
    return np.stack(branches)


def sprite_token_mask(frames: np.ndarray, background: np.ndarray, patch: int) -> np.ndarray:
    """Bool ``(64 // patch, 64 // patch)``: tokens that hold a sprite pixel (:func:`sprite_mask`) in any of
    ``frames`` uint8 ``(N, 64, 64, 3)``."""
    grid = sprite_mask(frames, background).any(axis=0).reshape(64 // patch, patch, 64 // patch, patch)
    return grid.any(axis=(1, 3))


@torch.no_grad()
def action_sensitivity(world_model, real: np.ndarray, ks: tuple[int, ...]) -> list[dict]:
    """Does the model use the action where Mario is? For each ``k`` the real game holds RIGHT from the level start
    for ``k`` steps and then takes each action once (:func:`real_branches`): the real frame ``k+1`` under each action.
    At Mario's tokens (those holding a sprite pixel in frame ``k`` or any branch), the dynamics model predicts frame
    ``k+1`` from the real frames ``k-1, k`` (one MaskGIT pass, frame ``k+1`` all masked) under each action ``m``,
    and we read the mean probability it gives the real tokens of each branch ``b``: ``probs[m, b]``. A model that
    uses its action gives each branch the most probability under its own action (the diagonal), at least where the
    real branches differ; ``differ[b]`` counts Mario's tokens where branch ``b`` differs from RIGHT's, i.e. how much
    the game itself lets one action change the next frame there. ``real``: from :func:`real_right_from_start`.

    Returns per ``k``: ``{"k", "tokens" (Mario's token count), "differ" (A,), "probs" (A, A)}``.
    """
    right = ACTION_NAMES.index("RIGHT")
    background = np.median(real, axis=0).astype(np.uint8)
    patch = 64 // world_model.dynamics.config.grid_size
    tokens = world_model.encode(real[None])[0]  # (T, h, w)
    dynamics = world_model.dynamics
    num_actions = len(ACTION_NAMES)
    rows = []
    for k in ks:
        branches = real_branches(k)
        mario = torch.from_numpy(sprite_token_mask(np.concatenate([real[k : k + 1], branches]), background, patch))
        branch_tokens = world_model.encode(branches[:, None])[:, 0]  # (A, h, w)
        masked = torch.full_like(tokens[0], dynamics.mask_id)[None, None]
        ids = torch.cat([tokens[None, k - 1 : k + 1], masked], dim=1)  # (1, 3, h, w)
        probs = np.zeros((num_actions, num_actions))
        for action in range(num_actions):
            frame_actions = dynamics.frame_actions(torch.tensor([[right, action]], device=ids.device), 3)
            log_probs = dynamics.head(dynamics.hidden(ids, frame_actions))[0, 2].log_softmax(-1)  # (h, w, V)
            for branch in range(num_actions):
                real_prob = log_probs.gather(-1, branch_tokens[branch][..., None]).squeeze(-1).exp()
                probs[action, branch] = float(real_prob[mario].mean())
        differ = [int((branch_tokens[b] != branch_tokens[right])[mario].sum()) for b in range(num_actions)]
        rows.append({"k": k, "tokens": int(mario.sum()), "differ": differ, "probs": probs})
    return rows


@torch.no_grad()
def walk_probes(world_model, real: np.ndarray) -> dict:
    """Does the model know that RIGHT walks Mario, and does it stop him once a dream has stalled?

    ``real``: the real game holding RIGHT from the level start (:func:`real_right_from_start`).

    - teacher-forced: for ``k = 1..STILL_CAMERA_STEPS-1`` the model predicts frame ``k+1`` (all masked, one pass)
      from the real frames ``0..k``; at Mario's tokens that change in the real frame ``k+1`` we count how often its
      argmax is the real token (``argmax_real`` of ``changed``) and average the probability of the real token
      (``p_real``) and of the unchanged one (``p_copy``).
    - stalled context: the same prediction from ``k+1`` copies of frame 0 (what a dream that never moved Mario feeds
      back), RIGHT held; per ``k``, the mean probability of leaving Mario's tokens as they are (``stalled_p_copy``)
      and how many of them the argmax changes (``stalled_moved`` of ``mario_tokens``).
    """
    right = ACTION_NAMES.index("RIGHT")
    background = np.median(real, axis=0).astype(np.uint8)
    patch = 64 // world_model.dynamics.config.grid_size
    dynamics = world_model.dynamics
    tokens = world_model.encode(real[None])[0]  # (T, h, w)
    masked = torch.full_like(tokens[:1], dynamics.mask_id)[None]

    def log_probs(context: torch.Tensor) -> torch.Tensor:
        num = context.shape[0]
        ids = torch.cat([context[None], masked], dim=1)
        frame_actions = dynamics.frame_actions(torch.full((1, num), right, device=ids.device), num + 1)
        return dynamics.head(dynamics.hidden(ids, frame_actions))[0, -1].log_softmax(-1)  # (h, w, V)

    hits = changed_total = 0
    p_real = p_copy = 0.0
    stalled_p_copy, stalled_moved = [], []
    mario = torch.from_numpy(sprite_token_mask(real[:3], background, patch))
    for k in range(1, STILL_CAMERA_STEPS):
        lp = log_probs(tokens[: k + 1])
        following, current = tokens[k + 1], tokens[k]
        changed = (following != current) & torch.from_numpy(sprite_token_mask(real[k : k + 2], background, patch))
        hits += int((lp.argmax(-1) == following)[changed].sum())
        changed_total += int(changed.sum())
        p_real += float(lp.gather(-1, following[..., None]).squeeze(-1).exp()[changed].sum())
        p_copy += float(lp.gather(-1, current[..., None]).squeeze(-1).exp()[changed].sum())
        lp = log_probs(tokens[:1].expand(k + 1, -1, -1))
        stalled_p_copy.append(float(lp.gather(-1, tokens[0][..., None]).squeeze(-1).exp()[mario].mean()))
        stalled_moved.append(int((lp.argmax(-1) != tokens[0])[mario].sum()))
    return {"argmax_real": hits, "changed": changed_total, "p_real": p_real / max(changed_total, 1),
            "p_copy": p_copy / max(changed_total, 1), "stalled_p_copy": stalled_p_copy,
            "stalled_moved": stalled_moved, "mario_tokens": int(mario.sum())}


def replay_to(env, episode: Path, frames: np.ndarray, taken: np.ndarray, t: int) -> np.ndarray | None:
    """Reset the real ``env`` with the stored episode's seed and replay its recorded actions ``taken`` (T-1,) up
    to frame ``t``; returns that observation, or None when it is not the stored frame ``frames[t]`` (uint8
    ``(T, 64, 64, 3)``)."""
    seed = json.loads((episode / "meta.json").read_text()).get("env_seed")
    obs, _ = env.reset(seed=seed)
    for action in taken[:t]:
        obs, *_ = env.step(int(action))
    return obs if np.array_equal(obs, frames[t]) else None


def real_held_shifts(episode: Path, frames: np.ndarray, taken: np.ndarray, t: int, steps: int) -> dict[str, int] | None:
    """Camera shift of the real game holding each of ``HELD`` for ``steps`` steps from frame ``t`` of a stored
    episode (its ``frames`` uint8 (T, 64, 64, 3) and recorded actions ``taken`` (T-1,)), reached by replaying the
    recorded actions from the reset; None when the replay does not reproduce the stored frame ``t`` (a reference for
    what each held action does from that very moment)."""
    shifts: dict[str, int] = {}
    with real_smb() as env:
        for name in HELD:
            first = replay_to(env, episode, frames, taken, t)
            if first is None:
                return None
            obs = first
            for _ in range(steps):
                obs, *_ = env.step(ACTION_NAMES.index(name))
            shifts[name] = camera_shift(first, obs)
    return shifts


def stop_step(shifts: list[float]) -> int | None:
    """The first step (1-based) whose camera shift is below half a pixel, None if the camera never stops."""
    return next((i + 1 for i, shift in enumerate(shifts) if shift < 0.5), None)


def brake_probe(dream_env, episode: Path, frames: np.ndarray, taken: np.ndarray, t: int, steps: int,
                seeds: tuple[int, ...], past: int = 7) -> dict[str, list[float]] | None:
    """Does the model know that releasing RIGHT (DOWN held) lets Mario coast to a stop, or does it only continue the
    motion it sees? From the scrolling moment ``t`` of a stored episode the real game holds DOWN for ``steps`` steps
    (its per-step camera shifts ``real``). ``teacher_forced``: at each step the dream is reset to the real frames of
    the last ``past`` steps and their actions and takes one DOWN step (mean shift over ``seeds``); a model that only
    extrapolates the motion in its context stops one step after the real game. ``dream``: the free-running dream's
    per-step shifts from the real frames ``t-1, t`` (first seed). None when the replay of the episode differs.
    Frames uint8 ``(T, 64, 64, 3)``, ``taken`` int ``(T-1,)``; shifts in pixels per step."""
    down = ACTION_NAMES.index("DOWN")
    if t < past:
        return None
    with real_smb() as env:
        obs = replay_to(env, episode, frames, taken, t)
        if obs is None:
            return None
        real = np.stack(list(frames[t - past : t]) + [obs] + [env.step(down)[0] for _ in range(steps)])
    actions = np.concatenate([taken[t - past : t], np.full(steps, down)]).astype(np.int64)
    real_shifts = [float(camera_shift(real[past + i], real[past + i + 1], 6)) for i in range(steps)]
    forced = []
    for i in range(steps):
        context, context_actions = real[i + 1 : past + i + 1], actions[i + 1 : past + i]
        shifts = []
        for seed in seeds:
            dream_env.reset(seed=seed, options={"frames": context, "actions": context_actions})
            following, *_ = dream_env.step(down)
            shifts.append(camera_shift(context[-1], following, 6))
        forced.append(float(np.mean(shifts)))
    dreamed = rollout(dream_env, {"frames": real[past - 1 : past + 1], "actions": actions[past - 1 : past]}, down,
                      steps, seeds[0])
    dream_shifts = [float(camera_shift(dreamed[i], dreamed[i + 1], 6)) for i in range(steps)]
    return {"real": real_shifts, "teacher_forced": forced, "dream": dream_shifts}


def dream_shift(env, reset_options: dict | None, action: int, steps: int, seed: int) -> int:
    """Camera shift of a dream that holds ``action`` for ``steps`` steps after ``env.reset(options=...)``."""
    frames = rollout(env, reset_options, action, steps, seed)
    return camera_shift(frames[0], frames[-1])


def make_dream(checkpoint: str | None, overrides: Mapping[str, object] | None = None) -> gym.Env:
    """``gym.make`` of the shipped SMB dream (``checkpoint`` None) or of the world model at ``checkpoint``, registered
    as ``GenieDream-Benchmark-v0``, with ``overrides`` of ``dream.json`` (``--set``, :func:`parse_dream_overrides`):
    the sampling ones (:class:`DreamSettings` names) are the env's keyword arguments, the engine ones
    (``context_window``, ``decode_window``, ``dreams_per_pass``) go into its world model's settings, which the world
    model reads at every reset (none has happened yet)."""
    env_id = "GenieDream-SMB-v0"
    if checkpoint:
        env_id = "GenieDream-Benchmark-v0"
        genie_gym.register_dream(env_id, checkpoint)
    overrides = dict(overrides or {})
    sampling = {key: overrides.pop(key) for key in DreamSettings.names() if key in overrides}
    env = gym.make(env_id, **sampling)
    apply_dream_overrides(env.unwrapped.world_model, overrides)
    return env


@dataclass(kw_only=True)
class ControlSettings:
    """The options of ``genie probe control`` (the ``--set`` overrides checked as the settings are built)."""

    checkpoint: str | None = option(None, "world-model directory (default: the shipped SMB model)")
    data: str = option("data/smb_right_test", "held-out episode store with SMB episodes")
    episodes: int = option(4)
    steps: int = option(12, "dreamed steps per held action (default 12)")
    seed: int = option(0)
    walk_seeds: int = option(0, "also dream the walk from the level start once per seed for this many more seeds "
                                "(from --walk-seed-start) and print each distance, their mean and s.e.")
    walk_seed_start: int = option(100)
    brake_probe: bool = option(False, "also hold DOWN from the scrolling moments: when does the camera stop (real "
                                      "game, model on the real past, free dream)")
    dream_overrides: list[str] = dream_overrides_option(DEFAULT_OVERRIDES)
    overrides: dict[str, object] = field(init=False)
    """:data:`DEFAULT_OVERRIDES` and ``dream_overrides`` read and checked (:func:`parse_dream_overrides`) over them."""

    def __post_init__(self) -> None:
        self.overrides = {**DEFAULT_OVERRIDES, **parse_dream_overrides(self.dream_overrides, FIXED_KEYS)}


def run(args: argparse.Namespace) -> int:
    """Dream, print one row per start and the Mario probes."""
    settings = from_args(ControlSettings, args)
    env = make_dream(settings.checkpoint, settings.overrides)
    steps, seed = settings.steps, settings.seed
    dream = env.unwrapped
    try:
        print(f"{env.spec.id}, {dream.maskgit_steps} MaskGIT step(s), temperature {dream.temperature:g}, "
              f"action guidance {dream.action_guidance:g}, {steps} dreamed steps; camera shift in pixels")
        print(f"{'start':<28} {'real':>5} " + " ".join(f"{name:>6}" for name in HELD)
              + "   real game holding " + "/".join(HELD))
        from_start = {name: dream_shift(env, None, ACTION_NAMES.index(name), steps, seed) for name in HELD}
        print(f"{'level start (real reset)':<28} {'-':>5} " + " ".join(f"{from_start[n]:>6}" for n in HELD))
        real_start = real_right_from_start()
        _print_mario(env, real_start, settings)
        _print_model_probes(env.unwrapped.world_model, real_start)
        moments = _print_scrolling_moments(env, settings)
        if settings.brake_probe:
            _print_brake_probes(env, moments, settings)
    finally:
        env.close()
    return 0


def _print_mario(env: gym.Env, real_start: np.ndarray, settings: ControlSettings) -> None:
    """Mario from the level start: present, walking (from the start and from walking starts), jumping."""
    seeds = tuple(range(settings.seed, settings.seed + 4))
    real_sprite, dream_sprite, real_x, dream_x = mario_persistence(env, real_start, seeds)
    print(f"Mario from the level start, RIGHT held, steps 0..{STILL_CAMERA_STEPS} (dream: mean of 4 seeds)")
    print("  sprite pixels, real  " + " ".join(f"{v:>5.1f}" for v in real_sprite))
    print("  sprite pixels, dream " + " ".join(f"{v:>5.1f}" for v in dream_sprite))
    print("  sprite column, real  " + " ".join(f"{v:>5.1f}" for v in real_x))
    print("  sprite column, dream " + " ".join(f"{v:>5.1f}" for v in dream_x))
    print(f"  steps 1..{STILL_CAMERA_STEPS}: real {real_sprite[1:].mean():.1f}, dream {dream_sprite[1:].mean():.1f} "
          f"sprite pixels per frame; Mario moved {real_x[-1] - real_x[0]:+.1f} px (real), "
          f"{dream_x[-1] - dream_x[0]:+.1f} px (dream)")
    if settings.walk_seeds > 0:
        walk_seeds = tuple(range(settings.walk_seed_start, settings.walk_seed_start + settings.walk_seeds))
        moved = walk_per_seed(env, real_start, walk_seeds)
        mean, se = mean_and_se(moved)
        print(f"  one dream per seed {walk_seeds[0]}..{walk_seeds[-1]}: Mario moved {mean:+.2f} ± "
              f"{'n/a' if se is None else f'{se:.2f}'} px (s.e.), > 3 px in {int((moved > 3).sum())} of {len(moved)}: "
              + " ".join(f"{v:+.1f}" for v in moved))
    for k, real_moved, dream_moved in walking_starts(env, real_start, (2, 4), seeds):
        print(f"  started after {k} real steps of RIGHT (Mario already walking), RIGHT held to step "
              f"{STILL_CAMERA_STEPS}: Mario moved {real_moved:+.1f} px (real), {dream_moved:+.1f} px (dream)")
    real_rise, dream_rise = jump_heights(env, real_start, seeds)
    print(f"  JUMP held from the level start for {STILL_CAMERA_STEPS} steps: Mario rose {real_rise:.1f} px (real), "
          f"{dream_rise:.1f} px (dream)")
    for after in (2, 4):
        real_rise, dream_rise = jump_heights(env, real_start, seeds, after)
        print(f"  JUMP held from step {after} of a RIGHT walk to step {STILL_CAMERA_STEPS}: Mario rose "
              f"{real_rise:.1f} px (real), {dream_rise:.1f} px (dream)")


def _print_model_probes(world_model, real_start: np.ndarray) -> None:
    """The walk probes and the action sensitivity: what the model predicts at Mario's tokens in one pass."""
    print("Action sensitivity at Mario's tokens (the real game holds RIGHT from the level start for k steps, then "
          "takes each action once): mean probability the model gives each real branch (columns) under each action "
          "(rows); 'differ': Mario's tokens where the real branch differs from RIGHT's")
    probes = walk_probes(world_model, real_start)
    print(f"Walk probes (RIGHT held from the level start): teacher-forced, at Mario's tokens that change, argmax = "
          f"the real token {probes['argmax_real']}/{probes['changed']}, P(real) {probes['p_real']:.3f}, "
          f"P(unchanged) {probes['p_copy']:.3f}")
    print(f"  stalled context (k+1 copies of frame 0), k = 1..{STILL_CAMERA_STEPS - 1}: P(unchanged) at Mario's "
          f"{probes['mario_tokens']} tokens " + " ".join(f"{p:.2f}" for p in probes["stalled_p_copy"])
          + "; tokens the argmax moves " + " ".join(str(m) for m in probes["stalled_moved"]))
    for row in action_sensitivity(world_model, real_start, (1, 2, 4, 6)):
        probs = row["probs"]
        diagonal = float(np.diag(probs).mean())
        off = float((probs.sum() - np.trace(probs)) / (probs.size - len(probs)))
        differ = " ".join(f"{n} {d}" for n, d in zip(ACTION_NAMES, row["differ"], strict=True))
        print(f"  after {row['k']} steps, {row['tokens']} Mario tokens; differ {differ}; own action {diagonal:.3f}, "
              f"other actions {off:.3f}")
        print("      " + " ".join(f"{n:>6}" for n in ACTION_NAMES))
        for name, line in zip(ACTION_NAMES, probs, strict=True):
            print(f"    {name:<6}" + " ".join(f"{p:>6.3f}" for p in line).lstrip())


def _print_scrolling_moments(env: gym.Env, settings: ControlSettings) -> list[tuple[Path, np.ndarray, np.ndarray, int]]:
    """One row per held-out episode: the dream and the real game holding each action from its first scrolling
    moment. Returns ``(episode, frames, actions, t)`` of each moment."""
    episodes = sorted((Path(settings.data) / "SMB").glob("ep_*"))[: settings.episodes]
    if not episodes and settings.episodes > 0:
        raise FileNotFoundError(f"no SMB episodes under {settings.data}; collect some with `genie collect --env SMB` "
                                "or pass --data STORE (--episodes 0: skip these rows)")
    steps, seed = settings.steps, settings.seed
    moments = []
    for episode in episodes:
        frames = np.load(episode / "frames.npy")
        taken = np.load(episode / "actions.npy")
        t = scrolling_moment(frames)
        if t is None or t + steps >= len(frames):
            continue
        moments.append((episode, frames, taken, t))
        options = {"frames": frames[t - 1 : t + 1], "actions": taken[t - 1 : t]}
        row = {name: dream_shift(env, options, ACTION_NAMES.index(name), steps, seed) for name in HELD}
        real = camera_shift(frames[t], frames[t + steps])
        held = real_held_shifts(episode, frames, taken, t, steps)
        reference = "/".join(str(held[n]) for n in HELD) if held else "(replay differs)"
        print(f"{episode.name + f' t={t}':<28} {real:>5} " + " ".join(f"{row[n]:>6}" for n in HELD)
              + f"   {reference}")
    return moments


def _print_brake_probes(env: gym.Env, moments: list[tuple[Path, np.ndarray, np.ndarray, int]],
                        settings: ControlSettings) -> None:
    """DOWN held from each scrolling moment: when the camera stops in the real game, the model, the free dream."""
    print("Brake probe (DOWN held from the same moments; per-step camera shift in pixels, real game / the model "
          "on the real past, mean of 3 seeds / free dream; 'stops': the first step without a shift)")
    seeds = (settings.seed, settings.seed + 1, settings.seed + 2)
    for episode, frames, taken, t in moments:
        probe = brake_probe(env, episode, frames, taken, t, settings.steps, seeds)
        if probe is None:
            print(f"  {episode.name} t={t}: replay differs")
            continue
        for name, shifts in probe.items():
            stop = stop_step(shifts)
            print(f"  {episode.name + f' t={t}':<18} {name:<15}" + " ".join(f"{v:>4.1f}" for v in shifts)
                  + f"   stops at step {stop if stop is not None else 'never'}")
