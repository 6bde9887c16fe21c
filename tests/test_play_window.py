"""The play window's image: panels side by side, the header, and each panel's label when there are several."""

from __future__ import annotations

import numpy as np
import pytest

from genie_gym.play import HEADER_HEIGHT, PlaySession, compose_canvas, panel_offsets, render_window


@pytest.fixture(scope="module")
def font():
    pygame = pytest.importorskip("pygame")
    pygame.font.init()
    return pygame.font.Font(None, 20)


def test_panels_are_placed_at_their_offsets():
    red, blue = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    canvas = compose_canvas([("real", red), ("dream", blue)], scale=2)
    left, right = panel_offsets(2, scale=2)
    assert canvas.shape == (HEADER_HEIGHT + 128, right + 128, 3)
    assert (canvas[HEADER_HEIGHT:, left : left + 128] == red[0, 0]).all()
    assert (canvas[HEADER_HEIGHT:, right : right + 128] == blue[0, 0]).all()
    assert (canvas[HEADER_HEIGHT:, left + 128 : right] == 0).all()  # the gap


def test_the_canvas_is_the_image_grid_of_the_panels_under_a_black_header():
    rng = np.random.default_rng(0)
    panels = [(label, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for label in ("real", "dream", "third")]
    for count in (1, 2, 3):
        canvas = compose_canvas(panels[:count], scale=3)
        assert (canvas[:HEADER_HEIGHT] == 0).all()
        for x, (_, frame) in zip(panel_offsets(count, scale=3), panels, strict=False):
            assert (canvas[HEADER_HEIGHT:, x : x + 192] == frame.repeat(3, 0).repeat(3, 1)).all()
        assert canvas.shape == (HEADER_HEIGHT + 192, panel_offsets(count, scale=3)[-1] + 192, 3)


@pytest.mark.parametrize(("setting", "message"), [({"action_guidance": -1.0}, "action_guidance must be >= 0"),
                                                  ({"maskgit_steps": 0}, "maskgit_steps must be >= 1"),
                                                  ({"change_temperature": -1.0}, "change_temperature must be >= 0")])
def test_a_bad_dream_setting_is_refused_when_the_session_starts_not_at_the_first_tab(setting, message):
    # a real game's id: the dream env would be made only at the first Tab; the check comes before any env is made
    with pytest.raises(ValueError, match=message):
        PlaySession("GenieRetro-SMB-v0", sampling=setting)


def test_side_by_side_panels_carry_their_labels_and_a_single_panel_does_not(font):
    grey = np.full((64, 64, 3), 90, np.uint8)
    corner = (slice(HEADER_HEIGHT, HEADER_HEIGHT + 20), slice(0, 40))  # where a label is written, per panel
    labelled = render_window([("real", grey), ("dream", grey)], "header", scale=3, font=font)
    for x in panel_offsets(2, scale=3):
        patch = labelled[corner[0], x + corner[1].start : x + corner[1].stop]
        assert (patch == 255).all(axis=-1).any() and (patch == 0).all(axis=-1).any()  # white text on black
    alone = render_window([("dream", grey)], "header", scale=3, font=font)
    assert (alone[HEADER_HEIGHT:] == 90).all()  # one panel: the header says which it is


def test_the_uncertainty_heat_map_follows_the_map_token_by_token():
    from genie_gym.play import overlay_uncertainty

    frame = np.full((64, 64, 3), 90, np.uint8)
    uncertainty = np.zeros((16, 16), np.float32)
    uncertainty[2, 3] = 1.0  # one unsure token: its 4x4 patch of pixels
    heat = overlay_uncertainty(frame, uncertainty)
    assert heat.shape == frame.shape and heat.dtype == np.uint8
    patch = heat[8:12, 12:16]
    assert (patch == patch[0, 0]).all() and patch[0, 0, 0] > patch[0, 0, 2]  # red where the model is unsure
    certain = heat[0, 0]
    elsewhere = np.ones((64, 64), bool)
    elsewhere[8:12, 12:16] = False
    assert certain[2] > certain[0] and (heat[elsewhere] == certain).all()  # blue everywhere else
    assert np.abs(certain.astype(int) - 90).max() < np.abs(patch[0, 0].astype(int) - 90).max()  # a light tint only
    assert np.array_equal(frame, np.full((64, 64, 3), 90, np.uint8))  # the frame itself is not drawn on


def test_dream_settings_given_to_play_reach_the_dream_env(tiny_checkpoint):
    from genie_gym.play import PlaySession

    session = PlaySession("GenieDream-TinySMB-v0", sampling={"maskgit_steps": 2, "change_temperature": 0.1})
    try:
        assert (session.dream.unwrapped.maskgit_steps, session.dream.unwrapped.change_temperature) == (2, 0.1)
    finally:
        session.close()


def test_genie_play_hands_on_only_the_sampling_options_given():
    import argparse

    from genie_gym.commands.play_command import PlaySettings, register
    from genie_gym.options import from_args

    parser = argparse.ArgumentParser(prog="genie")
    register(parser.add_subparsers())
    parse = parser.parse_args
    assert from_args(PlaySettings, parse(["play", "GenieRetro-SMB-v0"])).sampling == {}
    settings = from_args(PlaySettings, parse(["play", "GenieRetro-SMB-v0", "--maskgit-steps", "2",
                                              "--change-temperature", "0.1", "--actions", "a.txt"]))
    assert settings.sampling == {"maskgit_steps": 2, "change_temperature": 0.1}
    assert (settings.env_id, settings.actions_file, settings.upscale) == ("GenieRetro-SMB-v0", "a.txt", None)



def test_the_sampling_options_are_the_dream_settings_declared_once_without_torch():
    """Every sampling option is a ``DreamSettings`` name (``context_frames`` aside, in its order), each command that
    offers one takes its declaration (help, metavar) from genie_gym.sampling_options, and the command modules that
    every `genie` call imports for its parser stay free of torch."""
    import subprocess
    import sys

    from genie_gym.commands.play_command import PlaySettings
    from genie_gym.evaluation import EvalSettings
    from genie_gym.models.configs import DreamSettings
    from genie_gym.sampling_options import SAMPLING_NAMES, given_sampling

    assert list(SAMPLING_NAMES) == [name for name in DreamSettings.names() if name != "context_frames"]
    assert given_sampling(EvalSettings(change_temperature=0.1)) == {"maskgit_steps": 25, "change_temperature": 0.1}
    assert given_sampling(PlaySettings(env_id="x", action_guidance=1.0)) == {"action_guidance": 1.0}
    code = ("import sys, genie_gym.commands.play_command, genie_gym.agents.explore_settings, "
            "genie_gym.agents.collect_command; assert 'torch' not in sys.modules, 'a parser module imports torch'")
    subprocess.run([sys.executable, "-c", code], check=True)

def test_the_overlay_changes_the_dream_panel_only_and_only_while_on(tiny_checkpoint, font):
    from genie_gym.play import PlaySession, header_text

    session = PlaySession("GenieDream-TinySMB-v0", side_by_side=True)  # registered by the tiny_checkpoint fixture
    try:
        session.reset()
        session.toggle_overlay()
        assert session.uncertainty_map is None  # nothing dreamed yet: nothing to show
        assert all(np.array_equal(shown, raw) for (_, shown), raw in
                   zip(session.panels(), (session.real_frame, session.dream_frame), strict=True))
        session.toggle_overlay()
        session.step(0)
        assert session.uncertainty_map is None  # off: the dream did not pay for its uncertainty
        assert "uncertainty" not in header_text(session)
        off = session.panels()
        assert np.array_equal(off[0][1], session.real_frame) and np.array_equal(off[1][1], session.dream_frame)
        image_off = render_window(off, header_text(session), scale=2, font=font)
        session.toggle_overlay()
        assert session.uncertainty_map.shape == (8, 8)  # the shown frame's map (the tiny dream's tokens), computed now
        on = session.panels()
        assert "[map]" in header_text(session) and "uncertainty" in header_text(session)
        assert np.array_equal(on[0][1], off[0][1]) and not np.array_equal(on[1][1], off[1][1])
        image_on = render_window(on, "header", scale=2, font=font)
        left, right = panel_offsets(2, scale=2)
        real, dream = (slice(HEADER_HEIGHT, None), slice(left, left + 128)), (slice(HEADER_HEIGHT, None),
                                                                               slice(right, right + 128))
        assert np.array_equal(image_on[real], image_off[real])  # the real panel is untouched
        assert (image_on[dream] != image_off[dream]).any(axis=-1).mean() > 0.5  # the dream panel wears the map
        session.toggle_overlay()
        assert np.array_equal(render_window(session.panels(), header_text(session), scale=2, font=font), image_off)
        session.toggle_overlay()
        session.toggle_dream()  # the real game alone: no dream panel, nothing to cover
        assert np.array_equal(session.panels()[0][1], session.real_frame)
    finally:
        session.close()


@pytest.mark.filterwarnings("ignore::genie_gym.envs.retro_env.SharedEmulatorWarning")  # two sessions' real games
def test_play_computes_the_uncertainty_only_while_the_overlay_is_on_and_shows_what_the_dream_pays(tiny_checkpoint):
    """With the overlay off the dream skips its reward (the fast setting), with it on it pays it, and the map shown
    right after turning it on is the one the step would have paid; the frames do not depend on it."""
    from genie_gym.play import PlaySession

    sessions = [PlaySession("GenieDream-TinySMB-v0", overlay=overlay) for overlay in (True, False)]
    try:
        for session in sessions:
            session.reset()
        always, toggled = sessions
        for step, action in enumerate([0, 4, 0, 1, 3]):
            if step == 2:
                toggled.toggle_overlay()  # on, between two steps
                np.testing.assert_array_equal(toggled.uncertainty_map, always.uncertainty_map)
                assert toggled.state.uncertainty == pytest.approx(always.state.uncertainty, abs=1e-7)
            for session in sessions:
                session.step(action)
            assert toggled.dream.unwrapped.reward == ("uncertainty" if step >= 2 else "none")
            np.testing.assert_array_equal(toggled.dream_frame, always.dream_frame)
            assert always.uncertainty_map.shape == (8, 8) and 0 < always.state.uncertainty <= 1
            if step < 2:
                assert toggled.uncertainty_map is None and toggled.state.uncertainty is None
            else:
                np.testing.assert_array_equal(toggled.uncertainty_map, always.uncertainty_map)
                assert toggled.state.uncertainty == always.state.uncertainty
    finally:
        for session in sessions:
            session.close()
