"""The command line lists every subcommand and every command accepts --seed."""

import subprocess
import sys

import pytest

from reactface_core.cli import CORE_COMMANDS, build_parser


def test_help_lists_all_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "reactface_core.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in CORE_COMMANDS:
        assert f"    {name}" in result.stdout


@pytest.mark.parametrize("name", CORE_COMMANDS)
def test_every_command_accepts_seed(name):
    parser = build_parser()
    argv = [name, "--help"] if name != "bench" else ["bench", "--help"]
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 0
