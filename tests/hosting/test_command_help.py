"""Every option and argument of Harbormaster's own commands says what it is in --help."""
from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from django.core.management import get_commands, load_command_class


def ours() -> list[str]:
    return sorted(name for name, app in get_commands().items() if app == "hosting")


def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_there_are_commands_to_check():
    assert {"tasks", "site", "platform", "demo_platform", "backups"} <= set(ours())


@pytest.mark.parametrize("name", ours())
def test_every_option_has_help(name):
    parser = load_command_class("hosting", name).create_parser("manage.py", name)
    missing = [f"{path}: {'/'.join(a.option_strings) or a.dest}" for path, a in walk(parser, name)
               if not (a.help or "").strip() or a.help == argparse.SUPPRESS]
    assert missing == []
