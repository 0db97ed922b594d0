"""The command line lists every subcommand, every command accepts --seed, and a missing
input file gives a one-line error naming it (no traceback)."""

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


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from reactface_core.data.world.synth import WorldConfig, generate_world

    data = tmp_path_factory.mktemp("world") / "data"
    config = WorldConfig(clips=6, seconds=2.0, clips_per_speaker=1, seed=0)
    generate_world(data, config, 1, progress=False, preview=False)
    return data


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--data", "DATA", "--out", "OUT/p.npy", "--checkpoint", "OUT/no.pt"],
         "reactface generate: checkpoint OUT/no.pt does not exist"),
        (["evaluate", "--data", "DATA", "--checkpoint", "OUT/no.pt"],
         "reactface evaluate: checkpoint OUT/no.pt does not exist"),
        (["train", "--config", "OUT/no.yaml"],
         "reactface train: training config OUT/no.yaml does not exist"),
    ],
)  # fmt: skip
def test_a_missing_file_is_named_in_a_one_line_error(argv, message, tiny_world, tmp_path):
    from reactface_core.cli import main

    argv = [a.replace("DATA", str(tiny_world)).replace("OUT", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert str(exit_info.value) == message.replace("OUT", str(tmp_path))
