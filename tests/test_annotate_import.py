"""`genie annotate import FILE.csv`: merge a RetroAct label file (``game,tags``) into the annotation table, groups
derived from the labels; a bad file gets one error saying what to fix and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from genie_gym.cli import main
from genie_gym.games import LabelFileError, get_game, group_members, import_labels, load_games, user_labels_path

GOOD = """game,tags
SuperMarioWorld-Snes,side free pl
SonicTheHedgehog-Genesis,side free pl
MarioBros-Nes,side h pl
Airstriker-Genesis,top h space_shooter
SuperMarioBros-Nes,side free pl
Berzerk-Atari2600,3p free shooter
PacMania-Sms,3p free maze
ChubbyCherub-Nes,side free pl_fly
Bugs-Nes,side free pl new
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_a_retroact_file(isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {g.retro_game: g for g in load_games()}
    assert not get_game("SuperMarioWorld-Snes").labelled and "platformers" not in get_game("MarioBros-Nes").groups
    assert main(["annotate", "import", str(_write(tmp_path, "RetroAct.csv", GOOD))]) == 0
    out = capsys.readouterr().out
    assert "labels of 6 games: 6 new, 0 changed, 0 unchanged" in out and str(user_labels_path()) in out
    assert "kept the checked labels of 1 verified games" in out and "Airstriker" in out, "SMB's labels agree"
    assert "left out 1 rows, tagged 'new'" in out and "Bugs-Nes" in out
    assert user_labels_path() == isolated_home / "labels.csv" and user_labels_path().exists()

    smw = get_game("SuperMarioWorld-Snes")
    assert (smw.view, smw.axis, smw.genre, smw.groups) == ("side", "free", "platformer", ("platformers",))
    assert smw.labels_imported and not smw.verified and smw.buttons == before[smw.retro_game].buttons
    assert (get_game("MarioBros-Nes").axis, get_game("Berzerk-Atari2600").view) == ("horizontal", "third-person")
    assert get_game("Berzerk-Atari2600").groups == ("shooters",) and get_game("PacMania-Sms").groups == ("maze",)
    assert get_game("ChubbyCherub-Nes").groups == ("flying-platformers",), "pl_fly is not a platformer"
    airstriker = get_game("Airstriker")
    assert (airstriker.view, airstriker.genre, airstriker.groups) == ("top-down", "shooter", ("shooters",))
    platformers = {g.name for g in group_members("platformers")}
    assert {"SMB", "SuperMarioWorld-Snes", "SonicTheHedgehog-Genesis", "MarioBros-Nes"} <= platformers
    assert "platformers" in out and "group platformers:" in out

    # a second file changes some labels and keeps the others (nothing imported before is lost)
    second = _write(tmp_path, "more.csv", "game,tags\nsupermarioworld-snes-v0,top free maze\nTetris-GameBoy,side "
                                          "free tetris\n")
    result = import_labels(second)
    assert (result.added, result.changed, result.unchanged) == (["Tetris-GameBoy"], ["SuperMarioWorld-Snes"], [])
    assert get_game("SuperMarioWorld-Snes").groups == ("maze",) and get_game("Tetris-GameBoy").groups == ("puzzle",)
    assert get_game("SonicTheHedgehog-Genesis").genre == "platformer", "labels of games not in the file stay"


BAD_FILES = {
    "no header": ("SuperMarioWorld-Snes,side free pl\n", "line 1 is 'SuperMarioWorld-Snes,side free pl', expected "
                                                          "the header `game,tags`"),
    "unknown tag": ("game,tags\nSuperMarioWorld-Snes,side free platform\n",
                    "line 2 (SuperMarioWorld-Snes): unknown motion style 'platform' (one of pl, pl_fly"),
    "two tags": ("game,tags\nMarioBros-Nes,side pl\n", "line 2 (MarioBros-Nes): 2 tags 'side pl', expected three"),
    "unknown game": ("game,tags\nSuperMarioWorld-Snes,side free pl\nSuperMarioWorldd-Snes,side free pl\n",
                     "SuperMarioWorldd-Snes (line 3; did you mean SuperMarioWorld-Snes?). Fix the names"),
    "conflict": ("game,tags\nMarioBros-Nes,side h pl\nmariobros-nes-v0,side free pl\n",
                 "line 3 (mariobros-nes-v0): labels MarioBros-Nes differently from line 2"),
    "control file": ("game,RIGHT,LEFT,UP,DOWN,ACTION_JUMP\nsupermariobros-nes,right,left,none,crouch,jump\n",
                     "is a RetroAct control file"),
    "empty": ("", "is empty"),
    "only header": ("game,tags\n", "no row to import"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_gets_one_error_and_nothing_is_lost(case: str, isolated_home: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["annotate", "import", str(_write(tmp_path, "good.csv", GOOD))]) == 0
    capsys.readouterr()
    labels = user_labels_path().read_bytes()
    table = load_games()
    text, message = BAD_FILES[case]
    assert main(["annotate", "import", str(_write(tmp_path, "bad.csv", text))]) == 1
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error, error
    assert user_labels_path().read_bytes() == labels and load_games() == table, "nothing already imported is lost"


def test_skip_unknown_imports_the_other_rows(isolated_home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, "typo.csv", "game,tags\nSuperMarioWorld-Snes,side free pl\nNoSuchGame-Nes,side free pl\n")
    with pytest.raises(LabelFileError, match="pass --skip-unknown"):
        import_labels(path)
    assert not user_labels_path().exists()
    result = import_labels(path, skip_unknown=True)
    assert result.added == ["SuperMarioWorld-Snes"] and result.skipped[0][0] == "NoSuchGame-Nes"


def test_a_damaged_labels_file_does_not_break_the_table(isolated_home: Path) -> None:
    user_labels_path().parent.mkdir(parents=True, exist_ok=True)
    user_labels_path().write_text("retro_game,view,axis,genre\nSuperMarioWorld-Snes-v0,sideways,free,platformer\n")
    with pytest.warns(UserWarning, match="ignoring the imported labels.*rerun `genie annotate import`"):
        games = load_games()
    assert len(games) > 1000 and not get_game("SuperMarioWorld-Snes").labelled
