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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["render"], "reactface render: give a COEFFICIENTS.npy file or --gallery OUT.png"),
        (["render", "--gallery", "g.png", "--size", "8"],
         "reactface render: --size 8: expected at least 16 pixels"),
        (["render", "--gallery", "g.png", "--skin", "1,2"],
         "reactface render: --skin '1,2': expected R,G,B in 0-255"),
        (["calibrate", "--checkpoint", "c.pt", "--data", "d", "--out", "o.pt", "--samples", "1"],
         "reactface calibrate: --samples must be at least 2, got 1"),
        (["train", "--config", "c.yaml", "--set", "stage1.epochs"],
         "reactface train: --set expects KEY=VALUE, got 'stage1.epochs'"),
        (["bench", "render", "--frames", "0"],
         "reactface bench render: --frames, --repeats >= 1 and --size >= 16"),
        (["bench", "streaming", "--early", "900"],
         "reactface bench streaming: need w <= --early < --late, got 900, 750"),
        (["evaluate", "--data", "d", "--set-size", "0"],
         "reactface evaluate: --set-size must be >= 1, got 0"),
        (["bench", "camera", "--clips", "0"], "reactface bench camera: --clips must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_a_wrong_option_value_is_one_line_and_exit_status_2(argv, message, tmp_path, capsys):
    """Every command reports a bad option value as argparse does: status 2, before any work."""
    from reactface_core.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([a.replace("g.png", str(tmp_path / "g.png")) for a in argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == message + "\n"
    assert not any(tmp_path.iterdir())
