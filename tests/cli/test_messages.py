"""Messages that say where a default comes from: the corrections store's data dir, ``sim generate --out``."""

from __future__ import annotations

import pytest

from vifailback_demo.cli.main import build_parser, main
from vifailback_demo.store import CorrectionsStore


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIFAILBACK_DATA_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize("command", ["stats", "list", "export --format sharegpt --out x", "clean"])
def test_no_store_names_the_default_data_dir_and_how_to_change_it(elsewhere, capsys, command):
    assert main(["corrections", *command.split()]) == 2
    assert capsys.readouterr().err == (
        "vifailback corrections: error: no corrections store at ./vifailback_data (the default, in the current "
        "folder; set --data-dir or $VIFAILBACK_DATA_DIR)\n"
    )


def test_no_store_names_the_flag_or_the_variable_that_chose_it(elsewhere, capsys, monkeypatch):
    assert main(["corrections", "stats", "--data-dir", "somewhere"]) == 2
    assert capsys.readouterr().err.endswith("no corrections store at ./somewhere (from --data-dir)\n")
    monkeypatch.setenv("VIFAILBACK_DATA_DIR", str(elsewhere / "env"))
    assert main(["corrections", "stats"]) == 2
    assert capsys.readouterr().err.endswith(
        f"no corrections store at {elsewhere / 'env'} (from $VIFAILBACK_DATA_DIR)\n"
    )
    (elsewhere / "env").mkdir()  # a folder without a database is not a store either
    assert main(["corrections", "stats"]) == 2
    assert "no corrections store at" in capsys.readouterr().err


def test_an_existing_store_at_the_default_place_opens(elsewhere, capsys):
    CorrectionsStore(elsewhere / "vifailback_data").close()
    assert main(["corrections", "stats", "--json"]) == 0
    assert '"total": 0' in capsys.readouterr().out


def test_sim_generate_help_shows_one_percent_sign_and_the_out_default(capsys):
    assert main(["sim", "generate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "about 13% succeed" in out and "%%" not in out
    assert "default ./sim_data, in the current folder" in out
    args = build_parser().parse_args(["sim", "generate", "--episodes", "1"])
    assert args.out == "sim_data"
