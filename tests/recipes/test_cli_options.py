"""`genforge recipe <name>`: every option defaults to None (the recipe's config dataclass holds
each default, once), --help lists every option with the dataclass's default, and an option left
out reaches the recipe as that default."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from genforge.cli.main import app
from genforge.cli.recipe import app as recipe_app
from genforge.recipes.characters import CharactersConfig
from genforge.recipes.finance import FinanceConfig
from genforge.recipes.medical import MedicalConfig

# command: (config dataclass, the recipe it runs, {option parameter: config field})
COMMANDS = {
    "medical-augment": (MedicalConfig, "genforge.recipes.medical.run",
                        {"heldout": "heldout_fraction", "run_name": "run", "set_": "model_options"}),
    "finance-report": (FinanceConfig, "genforge.recipes.finance.run", {}),
    "characters": (CharactersConfig, "genforge.recipes.characters.run", {}),
}  # fmt: skip
# a value unlike the default, per option kind
GIVEN = {
    "medical-augment": ["--steps", "7", "--heldout", "0.5", "--pdf", "--set", "ngf=8",
                        "--window", "40,400", "--out", "o", "--run", "r"],
    "finance-report": ["--demo", "--drafts", "1", "--out", "r.html", "--no-pdf"],
    "characters": ["--demo", "--diffaug", "", "--width", "4", "--classifier-weight", "0.5"],
}  # fmt: skip
EXPECTED = {
    "medical-augment": {"steps": 7, "heldout_fraction": 0.5, "pdf": True, "run": "r",
                        "model_options": {"ngf": 8}, "window": (40.0, 400.0), "out": "o"},
    "finance-report": {"demo": True, "drafts": 1, "out": "r.html", "pdf": False},
    "characters": {"demo": True, "diffaug": "", "width": 4, "classifier_weight": 0.5},
}  # fmt: skip


def params(command: str) -> list:
    group = typer.main.get_command(recipe_app)
    return [p for p in group.commands[command].params if p.name != "help"]


def genforge(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_every_recipe_command_is_checked():
    assert set(typer.main.get_command(recipe_app).commands) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_no_option_has_a_default_of_its_own(command):
    """Flags included: None (not given) leaves the choice to the config."""
    assert {p.name: p.default for p in params(command) if p.default is not None} == {}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_option_with_the_configs_default(command):
    config, _, fields = COMMANDS[command]
    result = genforge("recipe", command, "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    for p in params(command):
        assert p.opts[0] in text, p.opts[0]
        default = defaults[fields.get(p.name, p.name)]
        if isinstance(default, bool) and p.secondary_opts:
            flag = p.opts[0].removeprefix("--")
            assert f"[default: ({flag if default else 'no-' + flag})]" in text, p.name
        elif default not in (None, "", dataclasses.MISSING) and not isinstance(default, bool):
            assert f"[default: ({default})]" in text, p.name
    if command == "medical-augment":  # the generator's steps depend on the model
        assert "(default: cgan 3000, cddpm 4000)" in text


@pytest.mark.parametrize("given", [False, True], ids=["left-out", "given"])
@pytest.mark.parametrize("command", COMMANDS)
def test_options_reach_the_recipe_only_when_given(command, given, monkeypatch, tmp_path):
    config, target, _ = COMMANDS[command]
    monkeypatch.chdir(tmp_path)
    seen = []

    class Called(Exception):
        pass

    def fake(cfg, **_):
        seen.append(cfg)
        raise Called

    monkeypatch.setattr(target, fake)
    result = genforge("recipe", command, *(GIVEN[command] if given else []))
    assert isinstance(result.exception, Called), result.output
    assert seen == [config(**(EXPECTED[command] if given else {}))]
