"""Train the Mario detector (:mod:`genie_gym.probes.mario`) from real play labelled by the emulator.

Labels come from the game itself, never by hand: the RAM gives Mario's screen position (x at 0x03AD, y at 0x00CE,
his size at 0x0754) and whether the game is in play (0x0772 == 3; else the level-intro screen, whose Mario icon is
not Mario in play), and the full-resolution frame says whether he is drawn there: his NES palette's brown
(136, 112, 0) is his alone in level 1-1 and his red (216, 40, 0) nearly so. Visible = at least ``DRAWN`` such pixels
around the RAM position; not visible = none of his brown anywhere and none of his red near him (fallen below the
screen, the death blink, the intro screens); anything between is dropped as ambiguous. His position is the centroid
of those pixels. Synthetic negatives erase him from the full-resolution frame before the 64x64 downscale (each of his
pixels replaced by the one 16, 32 or 48 px beside it, the NES tile period, so sky, ground and pipes stay as they
were). The training frames also go through the shipped world model's tokenizer (encode + decode), which blurs
Mario as a dream does.

Early stopping on the real validation frames; the threshold is the one with the best balanced accuracy on the
validation frames, real and tokenized together (the probes score dreamed frames).
Seeds: train 0-7, validation (the threshold, early stopping) 1000-1002, test 2000-2004, per agent (runner noise 0.1,
runner noise 0.3, right-biased sticky, sticky random). One thread, a few minutes:

    python -m genie_gym.probes.mario_train --out checkpoints/mario-detector
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from genie_gym.agents.random_agent import RightBiasedStickyAgent, RunnerAgent, StickyRandomAgent
from genie_gym.conventions import preprocess_frame
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.options import add_options, from_args, option
from genie_gym.probes.mario import CELL, GRID, MarioDetector, MarioNet, cell_centroid, to_input
from genie_gym.world_model import WorldModel

PLAYER_X, PLAYER_Y, PLAYER_SIZE, GAME_TASK = 0x03AD, 0x00CE, 0x0754, 0x0772
BROWN, RED = (136, 112, 0), (216, 40, 0)
SKIN = (248, 152, 56)
DRAWN = 16  # full-resolution brown + red pixels for "visible" (small Mario has ~100; his last visible rows ~16)
CROP_LEFT, PAD_TOP, SCALE = 8, 8, 64 / 240  # the 256-wide NES screen is 240 wide here; 224 rows pad to 240

AGENTS = {
    "runner": lambda: RunnerAgent(noise=0.1),
    "runner-noisy": lambda: RunnerAgent(noise=0.3),
    "right-biased": RightBiasedStickyAgent,
    "sticky-random": StickyRandomAgent,
}
SPLITS = {"train": range(0, 8), "val": range(1000, 1003), "test": range(2000, 2005)}


def mario_box(ram: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of the full-resolution frame (224x240) around where the RAM puts Mario, with a margin for
    the frame the sprite lags behind his position."""
    x, y = int(ram[PLAYER_X]) - CROP_LEFT, int(ram[PLAYER_Y]) - PAD_TOP
    top = y + (16 if ram[PLAYER_SIZE] else 0)  # small Mario is drawn in the lower half of a 32-row box
    return slice(max(top - 8, 0), max(y + 42, 0)), slice(max(x - 8, 0), max(x + 24, 0))


def label(full: np.ndarray, ram: np.ndarray) -> tuple[int, float, float]:
    """``(status, row, col)`` of one real frame: status 1 visible, 0 not, -1 ambiguous; Mario's centre in pixels of
    the 64x64 frame (NaN unless visible)."""
    if ram[GAME_TASK] != 3:
        return 0, np.nan, np.nan  # level-intro screens: Mario is not in play
    rows, cols = mario_box(ram)
    box = full[rows, cols]
    mine = (box == BROWN).all(-1) | (box == RED).all(-1)
    if mine.sum() >= DRAWN:
        r, c = np.nonzero(mine)
        row = (r.mean() + rows.start + PAD_TOP + 0.5) * SCALE - 0.5
        col = (c.mean() + cols.start + 0.5) * SCALE - 0.5
        return 1, float(row), float(col)
    if mine.sum() == 0 and not (full == BROWN).all(-1).any():
        return 0, np.nan, np.nan
    return -1, np.nan, np.nan


def erase(full: np.ndarray, ram: np.ndarray) -> np.ndarray:
    """A copy of the full-resolution frame without Mario: each of his pixels (his palette, near the RAM position)
    takes the colour 16, 32 or 48 px to its left or right (the NES background repeats with its 16-px tiles) that is
    not his palette."""
    out = full.copy()
    rows, cols = mario_box(ram)
    palette = lambda px: (px == BROWN).all(-1) | (px == RED).all(-1) | (px == SKIN).all(-1)  # noqa: E731
    his = np.zeros(full.shape[:2], dtype=bool)
    his[rows, cols] = palette(full[rows, cols])
    for r, c in zip(*np.nonzero(his), strict=True):
        for dc in (-16, 16, -32, 32, -48, 48):
            if 0 <= c + dc < full.shape[1] and not palette(full[r, c + dc]):
                out[r, c] = full[r, c + dc]
                break
    return out


def play(agent_name: str, seed: int, steps: int, erase_every: int) -> dict[str, np.ndarray]:
    """One real episode of ``steps`` steps (on through lost lives, the intro screens included): ``frames`` uint8
    ``(N, 64, 64, 3)``, ``status`` int ``(N,)``, ``pos`` float ``(N, 2)``; every ``erase_every``-th visible frame
    also gives an erased copy (status 0)."""
    env = GenieRetroEnv("SMB", max_episode_steps=steps)
    agent = AGENTS[agent_name]()
    agent.reset(seed)
    frames, status, pos = [], [], []
    try:
        obs, _ = env.reset(seed=seed)
        visible_seen = 0
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(agent.act(obs))
            full, ram = env.full_frame, env.ram()
            state, row, col = label(full, ram)
            frames.append(obs), status.append(state), pos.append((row, col))
            if state == 1:
                visible_seen += 1
                if visible_seen % erase_every == 0:
                    frames.append(preprocess_frame(erase(full, ram))), status.append(0), pos.append((np.nan, np.nan))
            if terminated or truncated:
                break
    finally:
        env.close()
    return {"frames": np.stack(frames), "status": np.asarray(status), "pos": np.asarray(pos, dtype=np.float32)}


def collect(seeds: range, steps: int, erase_every: int) -> dict[str, np.ndarray]:
    """:func:`play` for every agent and seed, concatenated, ambiguous frames dropped."""
    parts = [play(name, seed, steps, erase_every) for name in AGENTS for seed in seeds]
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    keep = data["status"] >= 0
    return {key: value[keep] for key, value in data.items()}


def tokenizer_round_trip(frames: np.ndarray, checkpoint: str, batch: int = 256) -> np.ndarray:
    """Each frame through the world model's tokenizer alone (encode + decode), the blur a dream's frames carry."""
    world_model = WorldModel.from_pretrained(checkpoint)
    parts = [world_model.reconstruct(frames[i : i + batch, None])[:, 0] for i in range(0, len(frames), batch)]
    return np.concatenate(parts)


def targets(status: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Class per frame: Mario's 4x4 cell (row * GRID + col) where visible, ``GRID * GRID`` (no Mario) where not."""
    cell = np.clip(np.nan_to_num(pos) // CELL, 0, GRID - 1).astype(np.int64)
    return np.where(status == 1, cell[:, 0] * GRID + cell[:, 1], GRID * GRID)


def train_model(frames: np.ndarray, classes: np.ndarray, val: tuple[np.ndarray, np.ndarray], epochs: int,
                seed: int) -> MarioNet:
    """Cross-entropy over the ``GRID * GRID + 1`` classes, Adam, random horizontal-blur / brightness jitter; keeps
    the epoch with the lowest validation loss."""
    torch.manual_seed(seed)
    model = MarioNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loss_fn = nn.CrossEntropyLoss()
    inputs, labels = to_input(frames), torch.from_numpy(classes)
    val_inputs, val_labels = to_input(val[0]), torch.from_numpy(val[1])
    best, best_state = float("inf"), None
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(inputs))
        for i in range(0, len(order), 128):
            index = order[i : i + 128]
            loss = loss_fn(model(jitter(inputs[index])), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(val_inputs), val_labels))
        print(f"epoch {epoch + 1}: train loss {loss.item():.3f}, validation loss {val_loss:.3f}", flush=True)
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval()


def jitter(images: torch.Tensor) -> torch.Tensor:
    """Brightness and contrast jitter and, on half the batch, a 3x3 box blur: a dream's frames are softer and its
    colours drift."""
    scale = 1 + 0.15 * (torch.rand(len(images), 1, 1, 1) * 2 - 1)
    shift = 0.05 * (torch.rand(len(images), 1, 1, 1) * 2 - 1)
    images = (images * scale + shift).clamp(0, 1)
    blurred = nn.functional.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    pick = (torch.rand(len(images), 1, 1, 1) < 0.5).float()
    return pick * blurred + (1 - pick) * images


def choose_threshold(presence: np.ndarray, visible: np.ndarray) -> float:
    """The presence threshold with the best balanced accuracy on the validation split (ties: closest to 0.5)."""
    candidates = np.linspace(0.05, 0.95, 91)
    scores = [balanced_accuracy(presence >= t, visible) - 1e-6 * abs(t - 0.5) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def balanced_accuracy(said: np.ndarray, visible: np.ndarray) -> float:
    """The mean of the hit rate on visible frames and the correct-rejection rate on the others."""
    hits = (said & visible).sum() / max(visible.sum(), 1)
    rejections = (~said & ~visible).sum() / max((~visible).sum(), 1)
    return float((hits + rejections) / 2)


def evaluate(detector: MarioDetector, frames: np.ndarray, status: np.ndarray, pos: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, miss and false-alarm rates, and the position error (pixels, visible frames the
    detector finds), next to the trivial "always visible" baseline."""
    visible = status == 1
    presence, heatmap = detector.probabilities(frames)
    said = presence >= detector.threshold
    found = said & visible
    error = np.linalg.norm(cell_centroid(heatmap[found]) - pos[found], axis=1) if found.any() else np.zeros(1)
    return {"frames": int(len(frames)), "visible_fraction": round(float(visible.mean()), 4),
            "accuracy": round(float((said == visible).mean()), 4),
            "balanced_accuracy": round(balanced_accuracy(said, visible), 4),
            "missed_when_visible": round(float((~said[visible]).mean()), 4),
            "false_alarm_when_absent": round(float(said[~visible].mean()), 4),
            "position_error_px_median": round(float(np.median(error)), 2),
            "position_within_4px": round(float((error <= 4).mean()), 4),
            "always_visible_accuracy": round(float(visible.mean()), 4),
            "always_visible_balanced_accuracy": 0.5}


def both(data: dict[str, dict[str, np.ndarray]], name: str) -> dict[str, np.ndarray]:
    """Split ``name`` and its tokenizer round trip, concatenated."""
    return {key: np.concatenate([data[name][key], data[f"{name}_tokenized"][key]]) for key in data[name]}


@dataclass(kw_only=True)
class MarioTrainSettings:
    """The options of ``python -m genie_gym.probes.mario_train`` (saved as ``args`` in the detector's config)."""

    out: str = option("checkpoints/mario-detector")
    steps: int = option(300, "real steps per episode")
    seeds: int | None = option(None, "only the first N seeds of each split (a smoke run)")
    erase_every: int = option(2, "an erased copy of every n-th visible frame")
    epochs: int = option(8)
    world_model: str = option("smb", "whose tokenizer blurs the training frames")
    seed: int = option(0, "torch seed of the training")
    weights: str | None = option(None, "a trained detector's directory: keep its weights, only choose the threshold "
                                       "and evaluate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, MarioTrainSettings)
    settings = from_args(MarioTrainSettings, parser.parse_args(argv))
    torch.set_num_threads(1)
    began = time.time()
    splits = [name for name in SPLITS if not (settings.weights and name == "train")]
    data = {name: collect(SPLITS[name][: settings.seeds], settings.steps, settings.erase_every) for name in splits}
    print({name: {"frames": len(d["status"]), "visible": int((d["status"] == 1).sum())} for name, d in data.items()},
          f"collected in {time.time() - began:.0f} s", flush=True)
    for name in splits:  # each split also through the tokenizer: the domain the dream's frames live in
        data[f"{name}_tokenized"] = {**data[name], "frames": tokenizer_round_trip(data[name]["frames"],
                                                                                 settings.world_model)}
    if settings.weights:
        model = MarioDetector.load(settings.weights).model
    else:
        train = both(data, "train")
        val = data["val"]  # early stopping on real frames
        model = train_model(train["frames"], targets(train["status"], train["pos"]),
                            (val["frames"], targets(val["status"], val["pos"])), settings.epochs, settings.seed)
    detector = MarioDetector(model)
    val = both(data, "val")  # the threshold on real and tokenized frames: the probes score dreamed ones
    detector.threshold = choose_threshold(detector.probabilities(val["frames"])[0], val["status"] == 1)
    report = {name: evaluate(detector, d["frames"], d["status"], d["pos"]) for name, d in data.items()}
    extra = {"parameters": sum(p.numel() for p in model.parameters()), "splits": {k: [v.start, v.stop - 1]
             for k, v in SPLITS.items()}, "agents": list(AGENTS), "args": asdict(settings), "eval": report}
    detector.save(settings.out, extra)
    print(json.dumps(report, indent=2), f"\nthreshold {detector.threshold:.2f}; {time.time() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
