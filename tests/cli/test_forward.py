"""``vifailback train|merge|bench``: the training and bench command lines, reachable from any folder."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from vifailback_demo.cli.main import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    return [c for a in parser._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices]


def _run_elsewhere(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    """``python -m vifailback_demo ARGV`` from a folder that is not the repository (the project on the path, as an
    install puts it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "vifailback_demo", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_train_help_from_another_folder_lists_the_training_commands(tmp_path):
    from training.__main__ import build_parser

    proc = _run_elsewhere(tmp_path, "train", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: vifailback train" in proc.stdout and "= python -m training train" in proc.stdout
    for command in _commands(build_parser()):
        assert command in proc.stdout, command


def test_bench_help_from_another_folder_lists_the_eval_commands(tmp_path):
    from eval.cli import build_parser

    proc = _run_elsewhere(tmp_path, "bench", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: vifailback bench" in proc.stdout
    for command in _commands(build_parser()):
        assert command in proc.stdout, command


def test_merge_help_and_the_top_level_help(capsys):
    assert main(["merge", "--help"]) == 0
    assert "--adapter" in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("train", "merge", "bench"):
        assert f"\n    {name} " in out, name


def test_train_presets_reads_the_packaged_configs(capsys):
    assert main(["train", "presets"]) == 0
    shown = {line.split(":")[0] for line in capsys.readouterr().out.splitlines()}
    assert shown == {p.stem for p in (REPO_ROOT / "training" / "configs").glob("*.json")}


@pytest.mark.parametrize(
    ("argv", "module", "forwarded"),
    [
        (["bench", "run", "--bench", "b.json"], "eval.cli", ["run", "--bench", "b.json"]),
        (["bench", "score", "--help"], "eval.cli", ["score", "--help"]),
        (["train", "--config", "paper_lora", "--set", "epochs=2"], "training.__main__",
         ["train", "--config", "paper_lora", "--set", "epochs=2"]),
        (["train", "train", "--print-config"], "training.__main__", ["train", "--print-config"]),
        (["train", "presets"], "training.__main__", ["presets"]),
        (["merge", "--adapter", "a", "--out", "m"], "training.__main__", ["merge", "--adapter", "a", "--out", "m"]),
    ],
)  # fmt: skip
def test_arguments_are_handed_over_unchanged(monkeypatch, argv, module, forwarded):
    target = importlib.import_module(module)
    seen: list[list[str]] = []

    def fake_main(args):
        seen.append(list(args))
        return 7

    monkeypatch.setattr(target, "main", fake_main)
    assert main(argv) == 7
    assert seen == [forwarded]


def test_bench_errors_are_the_same_as_python_m_eval(capsys):
    from eval.cli import main as eval_main

    assert eval_main(["run"]) == 2
    direct = capsys.readouterr().err
    assert main(["bench", "run"]) == 2
    assert capsys.readouterr().err == direct and direct.count("\n") == 1


def test_training_and_eval_resolve_to_the_repository_packages():
    for name in ("training", "eval"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        assert Path(spec.origin).resolve() == REPO_ROOT / name / "__init__.py"


def test_the_packaging_ships_training_eval_and_the_training_configs():
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = setuptools["packages"]["find"]["include"]
    for package in ("vifailback_demo", "training", "eval", "eval.cli", "training.configs"):
        assert any(fnmatch(package, pattern) for pattern in include), package
    patterns = setuptools["package-data"]["training"]
    configs = [p for p in (REPO_ROOT / "training" / "configs").rglob("*") if p.is_file()]
    assert configs
    for path in configs:
        rel = path.relative_to(REPO_ROOT / "training").as_posix()
        assert any(fnmatch(rel, pattern) for pattern in patterns), rel


def test_a_missing_package_is_one_line_that_says_to_reinstall(monkeypatch, capsys):
    from vifailback_demo.cli import forward

    monkeypatch.setitem(forward.FORWARDED, "bench", "no_such_package_here.cli")
    assert main(["bench", "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'no_such_package_here' package is not installed" in err and "pip install" in err
