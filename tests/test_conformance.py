"""The envs through the clients users use and the contracts Gymnasium sets (issue 30).

Vector envs (``gym.make_vec`` sync and async, async with torch's thread pool in use, in a subprocess with a timeout
so a hang fails instead of blocking; the ids' ``vector_entry_point``: batched dreams, real games in subprocesses; SB3
``make_vec_env`` with ``DummyVecEnv`` and ``SubprocVecEnv``; several real games in one process), one step limit
(Gymnasium's, visible in the spec), inputs validated where they enter (``genie data import`` too), ``render()`` without
a render mode, copies of a real game, windows without a display and the import paths. The wheel: test_packaging.py.
Dreams use the tiny untrained world model of ``conftest.tiny_checkpoint``; real games need the ROMs.
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import genie_gym
from genie_gym.envs.registration import DEFAULT_MAX_EPISODE_STEPS
from genie_gym.envs.retro_env import EnvCopyError, GenieRetroEnv
from genie_gym.render_window import DisplayUnavailableError
from genie_gym.roms import rom_status

TINY_DREAM_ID = "GenieDream-TinySMB-v0"  # registered by the tiny_checkpoint fixture (conftest.py)
REPO = Path(__file__).resolve().parents[1]

needs_roms = pytest.mark.skipif(not rom_status("SuperMarioBros-Nes-v0").playable,
                                reason="ROMs not installed: run `genie roms install`")


@pytest.fixture(autouse=True)
def _dummy_video_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headless pygame for every test here (the display tests take it away again)."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def _run_with_timeout(script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python in its own process group; on timeout kill the group (no orphaned workers)
    and fail the test."""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"hung for {timeout} s (killed):\n{out}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


# --- vector envs -------------------------------------------------------------------------------------------------


@needs_roms
def test_make_vec_async_dream_works_after_torch_used_its_thread_pool(tiny_checkpoint):
    """Issue 30 item 1: AsyncVectorEnv forks after building one dream in the parent; with torch's (OpenMP) pool used
    by 2 threads there, the forked workers hung at their first torch op. They now use one thread (fork_safety)."""
    script = textwrap.dedent(f"""
        import gymnasium as gym, torch
        import genie_gym
        torch.set_num_threads(2)
        a = torch.randn(256, 256)
        (a @ a).sum()  # the intra-op pool now runs 2 threads: what a fork does not copy
        genie_gym.register_dream("GenieDream-AsyncTiny-v0", {str(tiny_checkpoint)!r})
        envs = gym.make_vec("GenieDream-AsyncTiny-v0", num_envs=2, vectorization_mode="async")
        assert envs.metadata["autoreset_mode"] is not None
        obs, info = envs.reset(seed=0)
        assert obs.shape == (2, 64, 64, 3) and obs.dtype.name == "uint8", obs.shape
        obs, reward, terminated, truncated, info = envs.step([0, 4])
        assert obs.shape == (2, 64, 64, 3) and reward.shape == (2,) and not terminated.any()
        envs.close()
        print("async ok")
    """)
    done = _run_with_timeout(script, timeout=240)
    assert done.returncode == 0 and "async ok" in done.stdout, done.stdout


@needs_roms
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_dream_sync_and_async(tiny_checkpoint, mode):
    envs = gym.make_vec(TINY_DREAM_ID, num_envs=2, vectorization_mode=mode, max_episode_steps=3, maskgit_steps=1)
    try:
        obs, _ = envs.reset(seed=1)
        assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
        truncations = []
        for _ in range(3):
            obs, reward, terminated, truncated, info = envs.step(np.array([0, 4]))
            assert reward.shape == (2,) and not terminated.any()
            truncations.append(truncated.tolist())
        assert truncations == [[False, False], [False, False], [True, True]]  # the spec's TimeLimit, in every env
    finally:
        envs.close()


@needs_roms
def test_make_vec_async_real_game_runs_one_emulator_per_process():
    """The way EmulatorBusyError recommends for several real games."""
    envs = gym.make_vec("GenieRetro-SMB-v0", num_envs=2, vectorization_mode="async", max_episode_steps=2)
    try:
        obs, info = envs.reset(seed=[0, 1])
        assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
        envs.step(np.array([0, 4]))
        *_, truncated, _ = envs.step(np.array([0, 4]))
        assert truncated.all()
    finally:
        envs.close()


@needs_roms
def test_make_vec_of_a_dream_id_is_the_batched_dream_of_one_forward_pass(tiny_checkpoint):
    """The ids' vector_entry_point: gym.make_vec(id, num_envs=N) is GenieDreamVectorEnv, the engine of
    GenieDreamVecEnv behind Gymnasium's VectorEnv API (NEXT_STEP autoreset, the spec's step limit)."""
    from genie_gym import GenieDreamVecEnv, GenieDreamVectorEnv

    default = gym.make_vec(TINY_DREAM_ID, num_envs=3)
    assert isinstance(default, GenieDreamVectorEnv) and default.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS
    default.close()
    envs = gym.make_vec(TINY_DREAM_ID, num_envs=3, vectorization_mode="vector_entry_point", max_episode_steps=2,
                        maskgit_steps=1, render_mode="rgb_array")
    reference = GenieDreamVecEnv(3, checkpoint=str(tiny_checkpoint), max_episode_steps=2, maskgit_steps=1, seed=5)
    try:
        assert isinstance(envs, GenieDreamVectorEnv) and envs.num_envs == 3
        assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
        assert envs.single_action_space == gym.spaces.Discrete(5) and envs.action_space.shape == (3,)
        assert envs.observation_space.shape == (3, 64, 64, 3) and envs.spec.id == TINY_DREAM_ID
        obs, info = envs.reset(seed=5)
        np.testing.assert_array_equal(obs, reference.reset())  # same seeds, same contexts, same engine
        actions = np.array([0, 4, 1])
        obs, reward, terminated, truncated, info = envs.step(actions)
        reference_obs, reference_reward, _, _ = reference.step(actions)
        np.testing.assert_array_equal(obs, reference_obs)
        np.testing.assert_allclose(reward, reference_reward, rtol=1e-6)
        assert reward.shape == (3,) and not terminated.any() and not truncated.any()
        assert info["uncertainty_map"].shape[0] == 3 and info["_uncertainty_map"].all()
        assert list(info["step"]) == [1, 1, 1]
        assert len(envs.render()) == 3 and envs.render()[1].shape == (64, 64, 3)
        *_, terminated, truncated, _ = envs.step(actions)
        assert truncated.all() and not terminated.any()  # the limit, in every dream at once
        obs, reward, terminated, truncated, info = envs.step(actions)  # NEXT_STEP: the next dreams start
        assert not truncated.any() and not reward.any() and info == {}
        np.testing.assert_array_equal(obs, reference.step(actions)[0])  # SB3 semantics: reset within that step
        np.testing.assert_array_equal(envs.reset(seed=[7, 8, 9])[0], envs.reset(seed=7)[0])
    finally:
        envs.close()
        reference.close()


@needs_roms
def test_batched_dreams_check_their_inputs(tiny_checkpoint):
    envs = gym.make_vec(TINY_DREAM_ID, num_envs=2, maskgit_steps=1)
    try:
        with pytest.raises(RuntimeError, match="call reset"):
            envs.step(np.array([0, 1]))
        envs.reset(seed=0)
        for bad in ([0, 1, 2], np.array([0.0, 1.0]), np.array([0, 5]), "01", 3):
            with pytest.raises(ValueError, match=r"actions of 2 batched dreams must be integers of shape \(2,\)|"
                                                 r"invalid action"):
                envs.step(bad)
        with pytest.raises(ValueError, match=r"takes one int s .*\[s, \.\.\., s \+ 1\], got \[0, 2\]"):
            envs.reset(seed=[0, 2])
        with pytest.raises(ValueError, match=r"take no reset options, got \['frames'\].*vectorization_mode='sync'"):
            envs.reset(options={"frames": 1})
        envs.step([0, 4])  # a list of ints is a batch of actions too
    finally:
        envs.close()
    with pytest.raises(ValueError, match="render_mode of batched dreams"):
        gym.make_vec(TINY_DREAM_ID, num_envs=2, render_mode="human")


@needs_roms
def test_make_vec_of_a_real_game_runs_one_subprocess_per_game_by_default():
    envs = gym.make_vec("GenieRetro-SMB-v0", num_envs=2, max_episode_steps=2)
    try:
        assert isinstance(envs, gym.vector.AsyncVectorEnv)
        obs, _ = envs.reset(seed=[0, 1])
        assert obs.shape == (2, 64, 64, 3)
        truncations = [envs.step(np.array([0, 4]))[3].tolist() for _ in range(2)]
        assert truncations == [[False, False], [True, True]]
    finally:
        envs.close()


def _run_alone(seed: int, actions: list[int]) -> list:
    env = gym.make("GenieRetro-SMB-v0", max_episode_steps=10**6)
    try:
        trace = [env.reset(seed=seed)]
        trace += [env.step(action) for action in actions]
        return trace
    finally:
        env.close()


def _assert_same_trace(ours: list, alone: list) -> None:
    assert len(ours) == len(alone)
    for got, expected in zip(ours, alone, strict=True):
        np.testing.assert_array_equal(got[0], expected[0])  # observation
        assert got[1:] == expected[1:]  # reward, terminated, truncated and info (the game's RAM variables)


@needs_roms
def test_real_games_of_one_process_warn_once_and_hand_one_emulator_over_exactly(monkeypatch):
    """Issue 30 item 2: two real games alternately in one process were 20-60x slower than one (a new emulator, and
    Python's full garbage collection, at every switch). Envs of the same game now hand the emulator over; the first
    time two live envs take turns, the process warns once that subprocesses are the way to run several."""
    from genie_gym.envs import retro_env
    from genie_gym.envs.retro_env import SharedEmulatorWarning

    rng = np.random.default_rng(2)
    first_actions, second_actions = ([int(a) for a in rng.integers(0, 5, size=15)] for _ in range(2))
    first_alone, second_alone = _run_alone(3, first_actions), _run_alone(4, second_actions)

    monkeypatch.setattr(retro_env, "_WARNED_SHARED_EMULATOR", [False])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharedEmulatorWarning)  # a second env made (and closed) alone: no warning
        lone = gym.make("GenieRetro-SMB-v0")
        first = gym.make("GenieRetro-SMB-v0", max_episode_steps=10**6)
        lone.close()
        second = gym.make("GenieRetro-SMB-v0", max_episode_steps=10**6)
    made = []
    make_emulator = retro_env._make_emulator
    monkeypatch.setattr(retro_env, "_make_emulator", lambda *args: made.append(args) or make_emulator(*args))
    try:
        with pytest.warns(SharedEmulatorWarning, match=r"one emulator.*subprocesses.*SubprocVecEnv") as caught:
            first_trace = [first.reset(seed=3)]  # it takes the emulator back from the live second: they alternate
        assert len([w for w in caught if w.category is SharedEmulatorWarning]) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", SharedEmulatorWarning)  # once per process: no second warning
            second_trace = [second.reset(seed=4)]
            for a, b in zip(first_actions, second_actions, strict=True):
                first_trace.append(first.step(a))
                second_trace.append(second.step(b))
            third = gym.make("GenieRetro-SMB-v0")
            third.close()
    finally:
        first.close()
        second.close()
    assert made == []  # 32 switches, no new emulator
    _assert_same_trace(first_trace, first_alone)
    _assert_same_trace(second_trace, second_alone)


@needs_roms
def test_the_real_game_a_dream_starts_from_shares_the_emulator_without_a_warning(tiny_checkpoint, monkeypatch):
    from genie_gym.envs import retro_env

    monkeypatch.setattr(retro_env, "_WARNED_SHARED_EMULATOR", [False])
    real, dream = gym.make("GenieRetro-SMB-v0"), gym.make(TINY_DREAM_ID, maskgit_steps=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", retro_env.SharedEmulatorWarning)
            real.reset(seed=0)
            dream.reset(seed=0)  # its real game takes the emulator for the context frames
            real.step(0)  # and hands it back
            dream.step(0)
    finally:
        real.close()
        dream.close()
    assert retro_env._WARNED_SHARED_EMULATOR == [False]


@needs_roms
def test_sb3_make_vec_env_over_the_dream_with_dummy_vec_env(tiny_checkpoint):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = make_vec_env(TINY_DREAM_ID, n_envs=2, seed=0, vec_env_cls=DummyVecEnv,
                        env_kwargs={"maskgit_steps": 1, "max_episode_steps": 2})
    try:
        obs = venv.reset()
        assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
        dones = []
        for _ in range(2):
            obs, rewards, done, infos = venv.step(np.array([0, 4]))
            assert rewards.shape == (2,) and "uncertainty_map" in infos[0]
            dones.append(done.tolist())
        assert dones == [[False, False], [True, True]] and infos[0]["TimeLimit.truncated"]
    finally:
        venv.close()


@needs_roms
def test_sb3_make_vec_env_over_the_dream_with_subproc_vec_env(tiny_checkpoint):
    """SubprocVecEnv starts its workers with forkserver: the "genie_gym:" prefix of the id imports genie_gym (which
    registers the ids) in them; the tiny world model goes in as the shipped id's checkpoint."""
    script = textwrap.dedent(f"""
        import numpy as np
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import SubprocVecEnv
        venv = make_vec_env("genie_gym:GenieDream-SMB-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv,
                            env_kwargs={{"checkpoint": {str(tiny_checkpoint)!r}, "maskgit_steps": 1,
                                         "max_episode_steps": 2}})
        obs = venv.reset()
        assert obs.shape == (2, 64, 64, 3), obs.shape
        dones = [venv.step(np.array([0, 4]))[2].tolist() for _ in range(2)]
        assert dones == [[False, False], [True, True]], dones
        venv.close()
        print("subproc ok")
    """)
    done = _run_with_timeout(script, timeout=240)
    assert done.returncode == 0 and "subproc ok" in done.stdout, done.stdout


# --- one step limit ----------------------------------------------------------------------------------------------


def test_every_registered_id_has_the_default_step_limit_in_its_spec(tiny_checkpoint):
    ids = [env_id for env_id in gym.registry if env_id.startswith(("GenieRetro-", "GenieDream-"))]
    assert "GenieDream-SMB-v0" in ids and "GenieRetro-SMB-v0" in ids and TINY_DREAM_ID in ids
    for env_id in ids:
        assert gym.spec(env_id).max_episode_steps == DEFAULT_MAX_EPISODE_STEPS == 1000, env_id
        assert "max_episode_steps" not in gym.spec(env_id).kwargs, env_id  # no second limit passed to the env


@needs_roms
def test_the_dream_truncates_at_the_limit_asked_for_not_at_1000(tiny_checkpoint):
    env = gym.make(TINY_DREAM_ID, max_episode_steps=1001, maskgit_steps=1)
    assert env.spec.max_episode_steps == 1001 and env.unwrapped.max_episode_steps is None
    env.reset(seed=0)
    truncated_at = None
    for step in range(1, 1002):
        *_, truncated, _ = env.step(step % 5)
        if truncated:
            truncated_at = step
            break
    env.close()
    assert truncated_at == 1001
    default = gym.make(TINY_DREAM_ID)
    assert default.spec.max_episode_steps == 1000 and default.unwrapped.max_episode_steps is None
    default.close()


@needs_roms
def test_the_real_game_has_only_the_gymnasium_limit():
    env = gym.make("GenieRetro-SMB-v0", max_episode_steps=3)
    assert env.spec.max_episode_steps == 3 and env.unwrapped.max_episode_steps is None
    env.reset(seed=0)
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]
    env.close()
    env = gym.make("GenieRetro-SMB-v0", max_episode_steps=1500)
    assert env.spec.max_episode_steps == 1500 and env.unwrapped.max_episode_steps is None
    env.close()
    direct = GenieRetroEnv("SMB", max_episode_steps=2)  # built directly: its own limit, when asked for
    direct.reset(seed=0)
    assert [direct.step(0)[3] for _ in range(2)] == [False, True]
    direct.close()
    with pytest.raises(ValueError, match="max_episode_steps"):
        GenieRetroEnv("SMB", max_episode_steps=0)


# --- inputs --------------------------------------------------------------------------------------------------------


@pytest.fixture
def dream(tiny_checkpoint):
    env = gym.make(TINY_DREAM_ID, maskgit_steps=1)
    yield env
    env.close()


BAD_ACTIONS = ["1", 2.0, np.float32(1.0), True, np.array([1]), np.array(1.0), None, 5, -1]
GOOD_ACTIONS = [0, np.int64(4), np.int32(1), np.uint8(2), np.array(3)]


def _assert_integer_actions_only(env) -> None:
    """Every bad action is one clear ValueError from the env itself; every good one steps."""
    for bad in BAD_ACTIONS:
        with pytest.raises(ValueError, match=r"invalid action .*expected one integer in \[0, 5\)"):
            env.unwrapped.step(bad)
    for good in GOOD_ACTIONS:
        env.step(good)


@needs_roms
def test_the_dream_takes_integer_actions_only(dream):
    dream.reset(seed=0)
    _assert_integer_actions_only(dream)


@needs_roms
def test_dream_reset_options_are_checked(dream):
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['frame'\].*'frames'.*'episode'"):
        dream.reset(options={"frame": frames})
    with pytest.raises(ValueError, match=r"holds 2 frames, so options\['actions'\] is required: int \(1,\)"):
        dream.reset(options={"frames": frames})
    with pytest.raises(ValueError, match=r"options\['actions'\] must be integers of shape \(1,\)"):
        dream.reset(options={"frames": frames, "actions": np.array([0.5])})
    with pytest.raises(ValueError, match="'actions' needs 'frames'"):
        dream.reset(options={"actions": np.array([0])})
    with pytest.raises(ValueError, match="either 'episode' or 'frames'"):
        dream.reset(options={"frames": frames, "actions": np.array([0]), "episode": "x/SMB/ep_000000"})
    obs, info = dream.reset(options={"frames": frames[:1]})  # one frame needs no actions
    assert info["context_frames"] == 1 and np.array_equal(obs, frames[0])
    obs, info = dream.reset(options={"frames": frames, "actions": np.array([4])})
    assert info["context_frames"] == 2


@needs_roms
def test_data_import_names_the_accepted_games_and_the_expected_file_format(tmp_path, capsys):
    from genie_gym.cli import main as genie_main

    good = tmp_path / "good.npz"
    np.savez(good, frames=np.zeros((1, 3, 64, 64, 3), np.uint8), actions=np.zeros((1, 2), np.int64))
    store = tmp_path / "store"
    assert genie_main(["data", "import", str(good), "--game", "Foo", "--out", str(store)]) == 1
    error = capsys.readouterr().err
    assert "unknown game 'Foo'" in error and "SMB, Airstriker" in error and "stable-retro name" in error
    assert error.count("\n") == 1 and not store.exists()
    readme = tmp_path / "README.txt"
    readme.write_text("not an archive\n")
    for bad in (readme, tmp_path / "pickle.npz"):
        if bad.suffix == ".npz":
            pickle.dump({"frames": 1}, bad.open("wb"))
        assert genie_main(["data", "import", str(bad), "--game", "SMB", "--out", str(store)]) == 1
        error = capsys.readouterr().err
        assert "is not a readable .npz file: expected a NumPy .npz archive" in error, error
        assert "frames uint8 (E, T, 64, 64, 3)" in error and "allow_pickle" not in error
        assert error.count("\n") == 1
    assert genie_main(["data", "import", str(good), "--game", "smb", "--out", str(store)]) == 0
    assert (store / "SMB" / "ep_000000").is_dir()


@needs_roms
def test_real_game_takes_integer_actions_and_no_reset_options():
    env = gym.make("GenieRetro-SMB-v0")
    env.reset(seed=0)
    _assert_integer_actions_only(env)
    with pytest.raises(ValueError, match=r"takes no reset options, got \['frame'\]"):
        env.reset(options={"frame": 1})
    env.reset(options={})  # what SB3's VecEnvs pass
    env.close()


# --- render() ------------------------------------------------------------------------------------------------------


@needs_roms
def test_render_follows_the_gymnasium_contract(tiny_checkpoint):
    for env_id, shape in ((TINY_DREAM_ID, (64, 64, 3)), ("GenieRetro-SMB-v0", (224, 240, 3))):
        plain = gym.make(env_id)
        plain.reset(seed=0)
        assert plain.render() is None, env_id  # no render_mode: None
        plain.close()
        rgb = gym.make(env_id, render_mode="rgb_array")
        rgb.reset(seed=0)
        frame = rgb.render()
        assert frame.shape == shape and frame.dtype == np.uint8, env_id
        rgb.close()
        human = gym.make(env_id, render_mode="human")  # the dummy video driver: a window nobody sees, on purpose
        human.reset(seed=0)
        assert human.render() is None
        human.close()


# --- copies of a real game ----------------------------------------------------------------------------------------


@needs_roms
def test_copying_or_pickling_a_real_game_raises_the_projects_error():
    env = gym.make("GenieRetro-SMB-v0")
    obs, _ = env.reset(seed=0)
    for copy_it in (copy.deepcopy, pickle.dumps, lambda e: copy.copy(e.unwrapped), lambda e: pickle.dumps(e.unwrapped)):
        with pytest.raises(EnvCopyError, match=r"GenieRetro-SMB-v0 cannot be copied or pickled .*one emulator per "
                                               r"process.*gym.make\('GenieRetro-SMB-v0'\)") as caught:
            copy_it(env)
        assert "\n" not in str(caught.value)
    assert isinstance(caught.value, TypeError)  # what pickle raises for objects it cannot copy
    env.step(0)  # the failed copy left the env (and its emulator) intact
    env.close()


@needs_roms
def test_a_dream_can_be_copied_and_pickled_and_the_copy_dreams_the_same(dream):
    dream.reset(seed=0)
    dream.step(0)
    for copy_it in (copy.deepcopy, lambda env: pickle.loads(pickle.dumps(env))):
        branch = copy_it(dream)
        assert branch.unwrapped.dreams.real_env is None  # the real game used for contexts stays with the original
        ours = [dream.step(action)[0] for action in (4, 4, 1)]
        theirs = [branch.step(action)[0] for action in (4, 4, 1)]
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
        branch.reset(seed=1)  # a default reset makes its own real game
        branch.close()


# --- windows without a display -------------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux windows need DISPLAY / WAYLAND_DISPLAY")
def test_human_render_mode_without_a_display_stops_with_a_clear_error(tiny_checkpoint, monkeypatch):
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(variable, raising=False)
    for make in (lambda: GenieRetroEnv("SMB", render_mode="human"),
                 lambda: gym.make(TINY_DREAM_ID, render_mode="human")):
        with pytest.raises(DisplayUnavailableError, match="needs a display.*DISPLAY.*SDL_VIDEODRIVER=dummy"):
            make()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")  # a display: the check lets it through
    from genie_gym.render_window import require_display

    require_display("a window")


# --- import paths and packaging files ------------------------------------------------------------------------------


def test_vec_env_and_dream_env_import_from_the_package_without_loading_torch_on_import():
    from genie_gym import GenieDreamEnv, GenieDreamVecEnv
    from genie_gym.envs.dream_env import GenieDreamEnv as DreamEnvClass
    from genie_gym.envs.dream_vec_env import GenieDreamVecEnv as VecEnvClass

    assert GenieDreamVecEnv is VecEnvClass and GenieDreamEnv is DreamEnvClass
    assert {"GenieDreamEnv", "GenieDreamVecEnv"} <= set(genie_gym.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        genie_gym.Nothing  # noqa: B018
    done = subprocess.run([sys.executable, "-c", "import sys, genie_gym; print('torch' in sys.modules)"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr


def test_license_file_is_mit_as_setup_cfg_says():
    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "Copyright (c) 2026 the genie-gym authors" in license_text
    assert "license = MIT" in (REPO / "setup.cfg").read_text()
