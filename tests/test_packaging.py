"""The wheel as a user gets it (issue 30 item 4): what it holds, and the package installed from it, outside the repo.

The wheel is built once per session from a clean copy of the working tree (its files that git tracks or would track),
without build isolation (no package index needed). It must hold the shipped world model and policy as data files,
one import package ``genie_gym`` (the agents and trainers are its subpackages, not top-level ``agents`` /
``trainers``), the MIT LICENSE and the ``genie`` plug-in entry points pointing into ``genie_gym``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = "genie_gym-0.1.0.data/data/share/genie-gym/checkpoints"


def _source_files() -> list[Path]:
    """The working tree's files that git tracks or would track (not the ignored runs/, data/, .venv/, build/)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a clean copy of the source tree (no stale build/)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy the source tree cleanly")
    pytest.importorskip("setuptools", minversion="68")
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("genie_gym-*.whl")
    return path


def test_the_wheel_installs_the_shipped_checkpoints_and_one_import_package(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"genie_gym", "genie_gym-0.1.0.data", "genie_gym-0.1.0.dist-info"}, top_level
    for shipped in ("ppo-in-dream-smb/policy.safetensors", "ppo-in-dream-smb/result.json",
                    "ppo-in-dream-smb/MODEL_CARD.md", "genie-redux-g-smb/dream.json",
                    "genie-redux-g-smb/tokenizer/model.safetensors", "genie-redux-g-smb/dynamics/model.safetensors"):
        assert f"{CHECKPOINTS}/{shipped}" in names, shipped
    assert "genie_gym/agents/policy_agent.py" in names and "genie_gym/trainers/__main__.py" in names
    assert "genie_gym-0.1.0.dist-info/licenses/LICENSE" in names or "genie_gym-0.1.0.dist-info/LICENSE" in names
    with zipfile.ZipFile(wheel) as archive:
        top_level_txt = archive.read("genie_gym-0.1.0.dist-info/top_level.txt").decode().split()
        entry_points = archive.read("genie_gym-0.1.0.dist-info/entry_points.txt").decode()
    assert top_level_txt == ["genie_gym"]
    for plugin in ("genie_gym.agents.collect_command:register", "genie_gym.agents.explore_settings:register",
                   "genie_gym.trainers.cli:register"):
        assert plugin in entry_points


def test_the_installed_wheel_finds_the_shipped_policy_and_dreams_outside_the_repo(wheel: Path, tmp_path: Path):
    """A fresh venv (its dependencies taken from this environment's site-packages, the package only from the
    wheel), used from a directory outside the repository: the README's ``--policy checkpoints/ppo-in-dream-smb`` and
    the name alone find the installed policy, a missing one says what to do, and the shipped dream dreams a step."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies (torch, gymnasium, ...) from here, but not this checkout's editable genie_gym: a .pth line
    # adds the directory without running the .pth files in it (the editable finder)
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    script = textwrap.dedent(f"""
        import gymnasium as gym, numpy as np, sys
        import genie_gym
        from genie_gym.agents.policy_agent import PolicyAgent
        assert genie_gym.__file__.startswith({str(venv)!r}), genie_gym.__file__
        share = {str(venv / "share" / "genie-gym" / "checkpoints")!r}
        for name in ("checkpoints/ppo-in-dream-smb", "ppo-in-dream-smb"):
            assert str(PolicyAgent(name).path).startswith(share), PolicyAgent(name).path
        try:
            PolicyAgent("runs/my_policy")
        except FileNotFoundError as exc:
            assert "ppo-in-dream-smb" in str(exc) and "train one" in str(exc), exc
        else:
            raise AssertionError("a missing policy was accepted")
        import importlib.util
        assert importlib.util.find_spec("agents") is None and importlib.util.find_spec("trainers") is None
        env = gym.make("GenieDream-SMB-v0", maskgit_steps=1)
        frames = np.zeros((2, 64, 64, 3), np.uint8)
        env.reset(seed=0, options={{"frames": frames, "actions": np.zeros(1, np.int64)}})
        obs, reward, terminated, truncated, info = env.step(0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8 and not terminated
        print("installed wheel ok")
    """)
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "GENIE_GYM_CHECKPOINTS")}
    done = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**environment, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0 and "installed wheel ok" in done.stdout, done.stdout + done.stderr


def test_a_shipped_policy_is_found_by_name_and_a_missing_one_says_what_to_do(tmp_path, monkeypatch):
    from genie_gym.agents.policy_agent import PolicyAgent, resolve_policy

    shipped = REPO / "checkpoints" / "ppo-in-dream-smb" / "policy.safetensors"
    monkeypatch.chdir(tmp_path)  # outside the repo: the README's relative path does not exist here
    for name in ("ppo-in-dream-smb", "checkpoints/ppo-in-dream-smb", "checkpoints/ppo-in-dream-smb/policy.safetensors",
                 shipped.parent):
        assert resolve_policy(name) == shipped, name
    with pytest.raises(FileNotFoundError) as missing:
        PolicyAgent("runs/no_policy")
    message = str(missing.value)
    assert message.startswith("policy file runs/no_policy not found: train one with examples/ppo_in_dream.py")
    assert "name a shipped policy: ppo-in-dream-smb" in message and "checkpoints/ppo-in-dream-smb" not in message
    monkeypatch.setenv("GENIE_GYM_CHECKPOINTS", str(tmp_path))  # a folder without it
    with pytest.raises(FileNotFoundError, match=r"the shipped policy ppo-in-dream-smb is not installed \(searched: "
                                                r".*\): reinstall genie-gym, or set GENIE_GYM_CHECKPOINTS"):
        resolve_policy("checkpoints/ppo-in-dream-smb")
