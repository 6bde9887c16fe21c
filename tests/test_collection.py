"""Collection of real Super Mario Bros episodes: alignment, determinism, shards, resume after kill -9."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genie_gym.agents.random_agent import RandomAgent, StickyRandomAgent, agent_factory
from genie_gym.collection import CollectionError, collect, derive_seed, describe_policy, parse_shard
from genie_gym.data.store import EpisodeStore, _host_tag, check_episode
from genie_gym.envs.retro_env import GenieRetroEnv

SEED = 7
EPISODES = 6
STEPS = 60
GENIE = str(Path(sys.executable).with_name("genie"))


def store_bytes(root: Path) -> dict[tuple[str, int], tuple[bytes, bytes]]:
    """The raw bytes of frames.npy and actions.npy of every visible episode."""
    store = EpisodeStore(root)
    return {(r.game, r.index): (r.frames_path.read_bytes(), r.actions_path.read_bytes()) for r in store.refs()}


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 2-worker collection: 6 SMB episodes x 60 steps, seed 7."""
    out = tmp_path_factory.mktemp("reference")
    result = collect(["SMB"], agent_factory("sticky-random"), EPISODES, STEPS, workers=2, out_dir=out, seed=SEED,
                     progress=False)
    assert (result.collected, result.skipped) == (EPISODES, 0)
    assert result.frames == sum(check_episode(r)["length"] for r in EpisodeStore(out).refs())
    return out


def test_alignment_and_replay_in_fresh_env(smb_store: Path) -> None:
    store = EpisodeStore(smb_store)
    refs = store.refs("SMB")
    assert [r.index for r in refs] == [0, 1, 2, 3]
    env = GenieRetroEnv("SMB", max_episode_steps=40)
    try:
        for ref in refs[:2]:
            episode = store.load(ref, verify=True)
            frames, actions, meta = episode.frames, episode.actions, episode.meta
            assert frames.dtype == np.uint8 and frames.shape[1:] == (64, 64, 3)
            assert actions.dtype == np.int64 and len(actions) == len(frames) - 1
            assert meta["terminated"] or (meta["truncated"] and len(frames) == 41)
            assert meta["env_seed"] == derive_seed(3, "SMB", ref.index, "env")
            # the stored actions, applied one by one from the same reset, reproduce every stored frame exactly
            obs, _ = env.reset(seed=meta["env_seed"])
            np.testing.assert_array_equal(obs, frames[0])
            for t, action in enumerate(actions):
                obs, _, terminated, truncated, _ = env.step(int(action))
                np.testing.assert_array_equal(obs, frames[t + 1], err_msg=f"{ref} frame {t + 1}")
            assert terminated == meta["terminated"] and (truncated or terminated) == (meta["truncated"] or terminated)
            assert not all(np.array_equal(frames[t], frames[t + 1]) for t in range(len(actions)))
            # and the policy, reset with the stored policy seed, chooses exactly the stored actions
            agent = StickyRandomAgent()
            agent.reset(meta["policy_seed"])
            assert [agent.act(f) for f in frames[:-1]] == actions.tolist()
    finally:
        env.close()


def test_same_seed_same_bytes_across_workers_and_shards(reference_store: Path, tmp_path: Path) -> None:
    factory = agent_factory("sticky-random")
    out = tmp_path / "sharded"
    first = collect(["SMB"], factory, EPISODES, STEPS, workers=1, out_dir=out, seed=SEED, shard="0/2", progress=False)
    assert EpisodeStore(out).indices("SMB") == [0, 2, 4] and first.collected == 3
    second = collect(["SMB"], factory, EPISODES, STEPS, workers=0, out_dir=out, seed=SEED, shard=(1, 2),
                     progress=False)
    assert (second.collected, second.skipped) == (3, 0)  # no overlap with shard 0
    assert EpisodeStore(out).indices("SMB") == list(range(EPISODES))
    assert store_bytes(out) == store_bytes(reference_store)

    other = tmp_path / "other_seed"
    collect(["SMB"], factory, 1, STEPS, workers=0, out_dir=other, seed=SEED + 1, progress=False)
    assert store_bytes(other)[("SMB", 0)] != store_bytes(reference_store)[("SMB", 0)]


def _session_pids(session: int) -> list[int]:
    """Live (non-zombie) processes of a session (the collection started with start_new_session=True)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):
            pids.append(int(entry.name))
    return pids


def _worker_pids(main_pid: int) -> list[int]:
    pids = []
    for pid in _session_pids(main_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == main_pid and b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


def _start_cli_collection(out: Path) -> subprocess.Popen:
    cmd = [GENIE, "collect", "--env", "SMB", "--agent", "sticky-random", "--episodes", str(EPISODES),
           "--max-steps", str(STEPS), "--workers", "2", "--out", str(out), "--seed", str(SEED), "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_episodes(process: subprocess.Popen, out: Path, count: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(EpisodeStore(out).indices("SMB"))
        if done >= count:
            return done
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    raise AssertionError(f"fewer than {count} episodes after {timeout} s")


def _rerun_and_check(out: Path, reference: Path) -> None:
    result = subprocess.run(
        [GENIE, "collect", "--env", "SMB", "--agent", "sticky-random", "--episodes", str(EPISODES), "--max-steps",
         str(STEPS), "--workers", "2", "--out", str(out), "--seed", str(SEED), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "already on disk" in result.stdout
    store = EpisodeStore(out)
    assert store.indices("SMB") == list(range(EPISODES))
    for ref in store.refs():
        check_episode(ref, verify=True)
    assert store.temp_dirs() == []
    assert store_bytes(out) == store_bytes(reference)


def test_kill_main_process_then_resume(reference_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed_main"
    process = _start_cli_collection(out)
    done = _wait_for_episodes(process, out, 2)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert done < EPISODES, "the collection finished before it could be interrupted"
    # the orphaned workers notice the main process is gone and exit on their own
    deadline = time.monotonic() + 20
    while _session_pids(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_pids(process.pid) == []
    store = EpisodeStore(out)
    survivors = store.indices("SMB")
    assert 2 <= len(survivors) < EPISODES
    for ref in store.refs():  # every visible episode is complete and valid
        check_episode(ref, verify=True)
    _rerun_and_check(out, reference_store)


def test_kill_worker_is_reported_then_resume(reference_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed_worker"
    process = _start_cli_collection(out)
    _wait_for_episodes(process, out, 1)
    workers = _worker_pids(process.pid)
    assert workers, "no collection worker found"
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "worker" in stderr and "died" in stderr and "rerun" in stderr, stderr
    assert len(EpisodeStore(out).indices("SMB")) < EPISODES
    for ref in EpisodeStore(out).refs():
        check_episode(ref, verify=True)
    _rerun_and_check(out, reference_store)


def test_resume_removes_stale_temp_dirs_and_rejects_other_settings(smb_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    shutil.copytree(smb_store, out)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = _host_tag()
    stale = out / "SMB" / f".tmp.ep_000004.{dead.pid}.{host}.0000"
    stale.mkdir()
    (stale / "frames.npy").write_bytes(b"\x93NUMPY half-written")
    live = out / "SMB" / f".tmp.ep_000005.{os.getpid()}.{host}.0000"
    live.mkdir()
    assert EpisodeStore(out).indices("SMB") == [0, 1, 2, 3]  # readers ignore temp dirs

    factory = agent_factory("sticky-random")
    result = collect(["SMB"], factory, 5, 40, workers=0, out_dir=out, seed=3, progress=False)
    assert (result.collected, result.skipped) == (1, 4)
    assert not stale.exists() and live.exists()  # the live writer's directory is left alone
    assert EpisodeStore(out).indices("SMB") == [0, 1, 2, 3, 4]

    with pytest.raises(ValueError, match="another --out"):
        collect(["SMB"], factory, 5, 40, workers=0, out_dir=out, seed=4, progress=False)
    with pytest.raises(ValueError, match="another --out"):
        collect(["SMB"], agent_factory("random"), 5, 40, workers=0, out_dir=out, seed=3, progress=False)


def test_worker_failure_is_reported(tmp_path: Path) -> None:
    bad_policy = functools.partial(RandomAgent, num_actions=7)  # returns actions 5 and 6, which are invalid
    with pytest.raises(CollectionError, match=r"worker 0 failed .*invalid action"):
        collect(["SMB"], bad_policy, 2, 60, workers=1, out_dir=tmp_path / "bad", seed=0, progress=False)
    assert EpisodeStore(tmp_path / "bad").refs() == []


def test_helpers() -> None:
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) == (0, 1)
    for spec in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(spec)
    assert describe_policy(agent_factory("sticky-random", p=0.5)) == "agents.random_agent.StickyRandomAgent(p=0.5)"
    assert derive_seed(1, "SMB", 0, "env") == derive_seed(1, "SMB", 0, "env") != derive_seed(1, "SMB", 1, "env")
    sticky = StickyRandomAgent(p=0.9)
    sticky.reset(0)
    actions = [sticky.act(np.zeros((64, 64, 3), np.uint8)) for _ in range(2000)]
    repeats = np.mean(np.diff(actions) == 0)
    assert 0.88 < repeats < 0.95  # p + (1 - p) / 5
    uniform = RandomAgent()
    uniform.reset(0)
    counts = np.bincount([uniform.act(None) for _ in range(5000)], minlength=5)
    assert counts.min() > 900 and set(np.nonzero(counts)[0]) == {0, 1, 2, 3, 4}


def test_right_biased_agent_goes_further_into_smb_than_sticky_random() -> None:
    """The right-biased policy draws RIGHT most often, stays seeded, and scrolls the real level further."""
    from genie_gym.agents.random_agent import RightBiasedStickyAgent

    agent = RightBiasedStickyAgent(p=0.0)
    agent.reset(3)
    drawn = [agent.act(None) for _ in range(4000)]
    agent.reset(3)
    assert [agent.act(None) for _ in range(4000)] == drawn
    shares = np.bincount(drawn, minlength=5) / len(drawn)
    assert abs(shares[0] - 0.55) < 0.03 and abs(shares[4] - 0.25) < 0.03 and shares.min() > 0.03
    with pytest.raises(ValueError, match="weights"):
        RightBiasedStickyAgent(weights=(1.0, 0.0))

    def scroll_fraction(policy: RandomAgent) -> float:
        """Fraction of steps whose ground rows changed (the camera scrolls only when Mario walks right)."""
        env = GenieRetroEnv("SMB")
        changed = []
        try:
            for episode in range(2):
                obs, _ = env.reset(seed=episode)
                policy.reset(episode)
                for _ in range(150):
                    new_obs, _, terminated, truncated, _ = env.step(policy.act(obs))
                    changed.append(np.abs(new_obs[52:60].astype(int) - obs[52:60].astype(int)).mean() > 2)
                    obs = new_obs
                    if terminated or truncated:
                        break
        finally:
            env.close()
        return float(np.mean(changed))

    assert scroll_fraction(RightBiasedStickyAgent()) > scroll_fraction(StickyRandomAgent()) + 0.1


def test_run_stop_agent_alternates_right_runs_with_stops() -> None:
    """RunStopAgent holds RIGHT for a run, then LEFT / UP / DOWN or JUMP, with segment lengths in their ranges."""
    from genie_gym.agents.random_agent import RunStopAgent

    agent = RunStopAgent(run=(4, 6), stop=(2, 3), jump_p=0.25)
    agent.reset(7)
    drawn = [agent.act(None) for _ in range(3000)]
    agent.reset(7)
    assert [agent.act(None) for _ in range(3000)] == drawn
    segments: list[tuple[int, int]] = []  # (action, length)
    for action in drawn:
        if segments and segments[-1][0] == action:
            segments[-1] = (action, segments[-1][1] + 1)
        else:
            segments.append((action, 1))
    runs = [length for action, length in segments[:-1] if action == 0]
    stops = [(action, length) for action, length in segments[:-1] if action != 0]
    assert drawn[0] == 0 and set(runs) == {4, 5, 6}
    assert {length for _, length in stops} == {2, 3}
    assert all(a == 0 for a, _ in segments[0::2]) and all(a != 0 for a, _ in segments[1::2])
    stop_shares = np.bincount([a for a, _ in stops], minlength=5)[1:] / len(stops)
    assert abs(stop_shares[3] - 0.25) < 0.06 and min(stop_shares[:3]) > 0.18  # JUMP 1/4, LEFT / UP / DOWN 1/4 each
    with pytest.raises(ValueError, match="run"):
        RunStopAgent(run=(0, 3))
    with pytest.raises(ValueError, match="jump_p"):
        RunStopAgent(jump_p=1.5)


def test_collect_jump_p_sets_the_run_stop_agents_jump_share(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``genie collect --agent run-stop --jump-p 0`` records runs that end only in stops (no JUMP), says so in the
    store's settings, and ``--jump-p`` with another agent or outside [0, 1] is one clear error."""
    from genie_gym.cli import main

    out = tmp_path / "nojump"
    argv = ["collect", "--env", "SMB", "--agent", "run-stop", "--episodes", "2", "--max-steps", "60", "--workers", "0",
            "--out", str(out), "--seed", "11", "--no-progress"]
    assert main([*argv, "--jump-p", "0"]) == 0
    store = EpisodeStore(out)
    actions = np.concatenate([store.load(ref).actions for ref in store.refs("SMB")])
    assert 4 not in actions and {0, 1, 2, 3} & set(actions.tolist()) - {0}  # stops, never JUMP
    assert check_episode(store.ref("SMB", 0))["agent"] == "run-stop(jump_p=0.0)"
    assert main([*argv, "--jump-p", "0.5"]) == 1  # resuming with another jump share is refused
    assert "run-stop(jump_p=0.0)" in capsys.readouterr().err
    assert main([*argv[:4], "sticky-random", *argv[5:-5], "--out", str(tmp_path / "x"), "--jump-p", "0"]) == 1
    assert "--jump-p goes only with --agent run-stop" in capsys.readouterr().err
    assert main([*argv[:-5], "--out", str(tmp_path / "y"), "--jump-p", "1.5"]) == 1
    assert "jump_p must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_runner_agent_runs_right_jumps_on_a_cycle_and_mixes_in_random_actions(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture) -> None:
    """RunnerAgent: without noise RIGHT on steps 1-3 and JUMP on steps 4-7 of every 8; with noise some other actions;
    ``genie collect --agent runner --noise`` records it (and scrolls into the level), and ``--noise`` elsewhere or
    outside [0, 1] is one clear error."""
    from genie_gym.agents.random_agent import RunnerAgent
    from genie_gym.cli import main

    agent = RunnerAgent(noise=0.0)
    agent.reset(0)
    cycle = [agent.act(None) for _ in range(16)]
    assert cycle == [0, 0, 0, 4, 4, 4, 4, 0] * 2
    noisy = RunnerAgent(noise=0.5)
    noisy.reset(1)
    actions = [noisy.act(None) for _ in range(400)]
    assert {1, 2, 3} <= set(actions)
    with pytest.raises(ValueError, match="noise"):
        RunnerAgent(noise=1.5)
    out = tmp_path / "runner"
    argv = ["collect", "--env", "SMB", "--agent", "runner", "--episodes", "1", "--max-steps", "80", "--workers", "0",
            "--out", str(out), "--seed", "5", "--no-progress"]
    assert main([*argv, "--noise", "0.1"]) == 0
    store = EpisodeStore(out)
    assert check_episode(store.ref("SMB", 0))["agent"] == "runner(noise=0.1)"
    frames = store.load(store.ref("SMB", 0)).frames
    from genie_gym.metrics import camera_shift

    assert camera_shift(frames[60], frames[80]) > 0  # the camera scrolls with the runner
    assert main([*argv[:4], "sticky-random", *argv[5:-5], "--out", str(tmp_path / "x"), "--noise", "0.1"]) == 1
    assert "--noise goes only with --agent runner" in capsys.readouterr().err


def test_lead_in_starts_recording_deeper_and_replays(tmp_path: Path) -> None:
    """With a lead-in, recording starts after unrecorded right-biased steps: frames[0] is that moment (replayable
    from the stored seeds), the recorded part is still aligned, collection is deterministic, and resuming with another
    lead-in is refused."""
    from genie_gym.agents.collect_command import parse_lead_in
    from genie_gym.agents.random_agent import RightBiasedStickyAgent, RunStopAgent
    from genie_gym.metrics import camera_shift

    kwargs = dict(lead_in=(120, 160), lead_in_factory=agent_factory("right-biased", p=0.75), progress=False)
    out = tmp_path / "lead"
    collect(["SMB"], agent_factory("run-stop"), 2, 12, workers=0, out_dir=out, seed=SEED, **kwargs)
    again = tmp_path / "again"
    collect(["SMB"], agent_factory("run-stop"), 2, 12, workers=1, out_dir=again, seed=SEED, **kwargs)
    assert store_bytes(out) == store_bytes(again)
    store = EpisodeStore(out)
    env = GenieRetroEnv("SMB", max_episode_steps=200)
    try:
        for ref in store.refs("SMB"):
            episode = store.load(ref, verify=True)
            meta, frames = episode.meta, episode.frames
            assert meta["lead_in"] == [120, 160] and 120 <= meta["lead_in_steps"] <= 160
            attempt = next(k for k in range(50)
                           if derive_seed(SEED, "SMB", ref.index, f"env:{k}" if k else "env") == meta["env_seed"])
            reset_obs, _ = env.reset(seed=meta["env_seed"])
            lead = RightBiasedStickyAgent(p=0.75)
            lead.reset(derive_seed(SEED, "SMB", ref.index, f"lead-in-policy:{attempt}"))
            obs, lives = reset_obs, []
            for _ in range(meta["lead_in_steps"]):
                obs, _, _, _, info = env.step(lead.act(obs))
                lives.append(info["lives"])
            np.testing.assert_array_equal(obs, frames[0])
            assert lives[-1] == lives[0]  # a lead-in in which Mario died was replayed
            assert not np.array_equal(frames[0], reset_obs)
            for t, action in enumerate(episode.actions):
                obs, *_ = env.step(int(action))
                np.testing.assert_array_equal(obs, frames[t + 1])
            agent = RunStopAgent()
            agent.reset(meta["policy_seed"])
            assert [agent.act(f) for f in frames[:-1]] == episode.actions.tolist()
        shifts = [camera_shift(env.reset(seed=0)[0], store.load(r).frames[0]) for r in store.refs("SMB")]
        assert max(shifts) > 0  # the level has scrolled before recording begins
    finally:
        env.close()
    with pytest.raises(ValueError, match="lead_in"):
        collect(["SMB"], agent_factory("run-stop"), 3, 12, workers=0, out_dir=out, seed=SEED, progress=False)
    cli_out = tmp_path / "cli"
    subprocess.run([GENIE, "collect", "--env", "SMB", "--agent", "run-stop", "--lead-in", "30:40", "--episodes", "1",
                    "--max-steps", "5", "--workers", "0", "--out", str(cli_out), "--seed", "3", "--no-progress"],
                   check=True, capture_output=True)
    cli_meta = check_episode(EpisodeStore(cli_out).ref("SMB", 0))
    assert cli_meta["lead_in"] == [30, 40] and "RightBiasedStickyAgent" in cli_meta["lead_in_agent"]
    assert parse_lead_in("60:300") == (60, 300) and parse_lead_in("100") == (100, 100)
    for bad in ("a:b", "300:60", "-1:5"):
        with pytest.raises(ValueError, match="--lead-in"):
            parse_lead_in(bad)


def test_collect_settings_check_their_options_as_they_are_built() -> None:
    """``CollectSettings`` (``genie collect``'s options) refuse options that go with another agent and a bad
    ``--lead-in`` from Python too, with the command line's messages, and parse the lead-in once."""
    from genie_gym.agents.collect_command import CollectSettings

    required = dict(env="SMB", episodes=1, out="unused")
    assert CollectSettings(**required, lead_in="60:300").lead_in_steps == (60, 300)
    assert CollectSettings(**required).lead_in_steps is None and CollectSettings(**required).progress
    for options, message in ((dict(agent="policy"), "--agent policy takes --policy FILE"),
                             (dict(policy="p.safetensors"), "--policy goes only with --agent policy"),
                             (dict(epsilon=0.1), "--epsilon goes only with --agent policy, got --agent sticky-random"),
                             (dict(agent="runner", jump_p=0.5), "--jump-p goes only with --agent run-stop"),
                             (dict(agent="run-stop", noise=0.1), "--noise goes only with --agent runner"),
                             (dict(lead_in="60-300"), "--lead-in takes MIN:MAX")):
        with pytest.raises(ValueError, match=message):
            CollectSettings(**required, **options)


def test_lead_in_that_costs_a_life_is_replayed_with_new_seeds() -> None:
    """play_lead_in replays a lead-in in which ``lives`` drops (the real SMB env does not terminate on a lost life)
    and gives up with a clear error when every attempt dies. A scripted env stands in for the emulator here so
    that the death happens on cue."""
    from genie_gym.collection import LEAD_IN_ATTEMPTS, play_lead_in

    class ScriptedLivesEnv:
        """Reset info has no RAM values (like a fresh retro reset); ``lives`` drops at step 3 for the given seeds."""

        def __init__(self, dying_seeds: set[int]) -> None:
            self.dying_seeds, self.seed, self.t = dying_seeds, None, 0

        def reset(self, seed: int):
            self.seed, self.t = seed, 0
            return np.zeros((64, 64, 3), np.uint8), {}

        def step(self, action: int):
            self.t += 1
            lives = 1 if self.seed in self.dying_seeds and self.t >= 3 else 2
            return np.full((64, 64, 3), self.t, np.uint8), 0.0, False, False, {"lives": lives}

    first, second = (derive_seed(SEED, "SMB", 4, name) for name in ("env", "env:1"))
    obs, steps, env_seed = play_lead_in(ScriptedLivesEnv({first}), RandomAgent(), SEED, "SMB", 4, (5, 5))
    assert (steps, env_seed, int(obs[0, 0, 0])) == (5, second, 5)
    all_seeds = {derive_seed(SEED, "SMB", 4, f"env:{k}" if k else "env") for k in range(LEAD_IN_ATTEMPTS)}
    with pytest.raises(RuntimeError, match="shorter --lead-in"):
        play_lead_in(ScriptedLivesEnv(all_seeds), RandomAgent(), SEED, "SMB", 4, (5, 5))
