"""`reactface evaluate` on a real (small) world of `reactface synth`, with the shipped model:
FreshOracle, DelayedMime, motion metrics, --set-size, --ablate, --front, --convention and
one-line errors for bad input."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch

from reactface_core.calibrate import calibrate_checkpoint
from reactface_core.checkpoint import FORMAT_VERSION
from reactface_core.cli import main
from reactface_core.data import react
from reactface_core.data.world import fresh
from reactface_core.face.models import get_face_model
from reactface_core.generate import (
    DEFAULT_CHECKPOINT,
    generate_reactions,
    load_trained_model,
    read_speakers,
)
from reactface_core.metrics import frcorr
from reactface_core.metrics.evaluation import load_react_split, scored_columns
from reactface_core.metrics.motion import reference_std, temporal_std
from reactface_core.metrics.report import CHANGE, read_csv
from reactface_core.model.idle import idle_channels

SAMPLES = 4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """3 speakers x 3 clips of 8 s, 6 listeners each: one speaker per train/val/test split."""
    root = tmp_path_factory.mktemp("world") / "synth"
    argv = ["synth", "--out", str(root), "--clips", "9", "--clips-per-speaker", "3",
            "--seconds", "8", "--seed", "3", "--workers", "1", "--quiet", "--no-preview"]  # fmt: skip
    assert main(argv) == 0
    return root


@pytest.fixture(scope="module")
def predictions(world, tmp_path_factory):
    """The shipped model's reactions to the test split, from `reactface generate`."""
    path = tmp_path_factory.mktemp("pred") / "model.npy"
    argv = ["generate", "--data", str(world), "--split", "test", "--out", str(path),
            "--samples", str(SAMPLES), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    return path


def evaluate(world, out, *extra) -> dict:
    argv = ["evaluate", "--data", str(world), "--out", str(out), "--plot-speakers", "0",
            "--device", "cpu", "--max-lag", "20", *map(str, extra)]  # fmt: skip
    assert main(argv) == 0
    return read_csv(out / "metrics.csv")


# ---- FreshOracle's world regeneration -------------------------------------------------------


def test_the_speaker_side_of_every_stored_clip_is_regenerated_exactly(world):
    from reactface_core.data.world.synth import speaker_side

    plan = fresh.world_plan(world)
    for split in react.SPLITS:
        paths = list(dict.fromkeys(pair.speaker for pair in react.read_pairs(world, split)))
        for path, index in zip(paths, fresh.clip_indices(plan, paths), strict=True):
            stored = np.load(react.modality_path(world / split, "coefficients", path))
            clip = plan.clips[index]
            side = speaker_side(plan.config, plan.speakers[clip.speaker_id], index)
            np.testing.assert_array_equal(side.coefficients, stored)


def test_fresh_reactions_are_new_seeded_and_appropriate(world):
    data = load_react_split(world, "test")
    clips = list(data.speaker_clips)
    (reactions,) = fresh.fresh_reactions(world, clips, SAMPLES, seed=0)
    assert reactions.shape == (len(clips), SAMPLES, data.frames, 58)
    np.testing.assert_array_equal(reactions, fresh.fresh_reactions(world, clips, SAMPLES, 0)[0])
    assert not np.allclose(reactions, fresh.fresh_reactions(world, clips, SAMPLES, seed=1)[0])
    for sample in reactions.reshape(-1, *reactions.shape[2:]):  # none is a stored reaction
        assert np.abs(data.listeners - sample).max(axis=(1, 2)).min() > 1e-3
    columns = scored_columns(data)
    fresh_score = frcorr(reactions[..., columns], data.listeners[..., columns], data.appropriate)
    shuffled = np.roll(reactions, 1, axis=0)  # the same reactions to another speaker
    other = frcorr(shuffled[..., columns], data.listeners[..., columns], data.appropriate)
    assert fresh_score > other + 0.02  # they react to this speaker, not to any speaker
    # sample 0 is a new mirroring listener: it smiles and raises its brows after its speaker
    # (where the speaker shows any: a poker-faced speaker gives nothing to mirror)
    names = get_face_model("arkit58").names
    copied = [names.index(n) for n in ("mouthSmileLeft", "browInnerUp", "browOuterUpLeft")]
    follows = []
    for k in range(len(clips)):
        reaction, speaker = reactions[k, 0][:, copied].sum(1), data.speakers[k][:, copied].sum(1)
        if speaker.std() < 0.05:
            continue
        follows.append(max(np.corrcoef(reaction[lag:], speaker[: len(speaker) - lag])[0, 1]
                           for lag in range(0, 20)))  # fmt: skip
    assert follows and np.median(follows) > 0.5, follows  # at its reaction lag (0.2-0.6 s)


def test_deaf_listeners_lose_the_voice_timing_and_a_poker_face_s_heard_emotion(world):
    from dataclasses import replace

    from reactface_core.data.world.synth import speaker_side

    plan = fresh.world_plan(world)
    side = speaker_side(plan.config, plan.speakers[plan.clips[0].speaker_id], 0)
    rng = np.random.default_rng(0)
    for poker, expressivity in ((False, 1.1), (True, 0.2)):
        style = replace(side.style, poker_faced=poker, expressivity=expressivity)
        heard, unheard = (
            replace(side, style=style).script,
            fresh.unheard(replace(side, style=style), rng).script,
        )
        assert len(unheard.pause_onsets) == len(heard.pause_onsets)
        assert len(unheard.stress_frames) == len(heard.stress_frames)
        assert not np.allclose(unheard.pause_onsets, heard.pause_onsets)
        shown = expressivity if poker else 1.0
        np.testing.assert_allclose(unheard.affect[:, 1:], shown * heard.affect[:, 1:])
        np.testing.assert_allclose(unheard.affect.sum(1), 1.0)
    data = load_react_split(world, "test")
    clips = list(data.speaker_clips)
    heard, deaf = fresh.fresh_reactions(world, clips, SAMPLES, seed=0, deaf=(False, True))
    assert deaf.shape == (len(clips), SAMPLES, data.frames, 58)
    assert not np.allclose(deaf, heard)
    # one regeneration for both gives what each alone gives
    np.testing.assert_array_equal(heard, fresh.fresh_reactions(world, clips, SAMPLES, 0)[0])
    np.testing.assert_array_equal(
        deaf, fresh.fresh_reactions(world, clips, SAMPLES, 0, deaf=(True,))[0]
    )


def test_a_folder_that_is_not_a_synthetic_world_is_named(tmp_path):
    (tmp_path / "dataset.json").write_text('{"face_model": "arkit58"}')
    with pytest.raises(ValueError, match="does not describe a world of `reactface synth`"):
        fresh.world_plan(tmp_path)


# ---- the evaluate command -------------------------------------------------------------------


def test_evaluate_scores_the_model_beside_every_baseline_and_the_motion_table(
    world, predictions, tmp_path
):
    results = evaluate(world, tmp_path / "eval", "--pred", predictions, "--name", "ReactFace")
    assert list(results)[:3] == ["ReactFace", "GT", "GTSet"]
    assert {"FreshOracle", "DeafOracle", "DelayedMime", "PerceivedMime", "Mime"} <= set(results)
    assert results["GTSet"]["FRDist"] == pytest.approx(0.0, abs=1e-6)  # the set itself
    # (its FRCorr is below 1: a channel constant in one speaker's set scores CCC 0 there)
    real = min(results["GTSet"]["FRCorr"], results["GT"]["FRCorr"])  # members of the set
    assert real > max(row["FRCorr"] for name, row in results.items() if name not in ("GT", "GTSet"))
    assert 0 < results["FreshOracle"]["FRCorr"] < results["GTSet"]["FRCorr"]
    assert results["FreshOracle"]["FRDiv"] > 0  # new persons and timings differ
    for row in results.values():  # the motion metrics sit beside the REACT ones
        assert {"motion median", "brows", "blinks/min", "nods/min"} <= set(row)
    assert results["GTSet"]["motion median"] == pytest.approx(1.0, abs=0.05)
    assert results["MeanFr"]["motion median"] == 0.0
    # when the samples follow: a copy of the speaker peaks at lag 0, real listeners later
    assert [results["Mime"][f"lag {q}"] for q in ("p25", "median", "p75")] == [0, 0, 0]
    assert results["GTSet"]["lag median"] > 0
    markdown = (tmp_path / "eval" / "metrics.md").read_text()
    assert (
        "What a person watching the face sees" in markdown and "| (appropriate set) |" in markdown
    )
    assert "When the samples follow the speaker" in markdown
    assert "DelayedMime: " in markdown and "on the val split" in markdown
    assert "PerceivedMime: DelayedMime (" in markdown and "fitted on train" in markdown
    assert "FreshOracle: 4 new reactions per speaker clip" in markdown
    assert "DeafOracle: FreshOracle's listeners reacting as if they could not hear" in markdown
    assert results["DeafOracle"]["FRCorr"] != results["FreshOracle"]["FRCorr"]


def test_the_model_can_be_scored_on_what_mediapipe_sees_in_the_world_s_renders(
    world, tmp_path, capsys
):
    from reactface_core.data.world.synth import speaker_side

    argv = ("--checkpoint", DEFAULT_CHECKPOINT, "--num-samples", 2, "--baselines", "PerceivedMime")
    with pytest.raises(SystemExit, match="Camera_landmark_files.*--only camera"):
        evaluate(world, tmp_path / "none", *argv, "--perception", "camera")
    assert main(["prepare", "--data", str(world), "--only", "camera", "--split", "test"]) == 0
    written = sorted((world / "test" / "Camera_landmark_files").rglob("*.npy"))
    clips = list(dict.fromkeys(pair.speaker for pair in react.read_pairs(world, "test")))
    assert len(written) == len(clips) and not (world / "train" / "Camera_landmark_files").exists()
    plan = fresh.world_plan(world)
    face_frames = found_in_face = found_in_none = 0
    for clip, index in zip(clips, fresh.clip_indices(plan, clips), strict=True):
        path = react.modality_path(world / "test", "camera_landmarks", clip)
        seen = np.load(path)
        side = speaker_side(plan.config, plan.speakers[plan.clips[index].speaker_id], index)
        assert react.landmark_aspect(path) == side.stage.height / side.stage.width
        found = np.isfinite(seen).all(axis=(1, 2))
        face_frames += side.detectable.sum()
        found_in_face += found[side.detectable].sum()
        found_in_none += found[~side.visible].sum()
        # MediaPipe's points, not the files': near the projection, never equal to it
        both = found & side.detectable
        if both.any():
            error = np.abs(seen[both, :, :2] - side.clean_landmarks[both, :, :2]).mean()
            assert 1e-4 < error < 0.02
    assert face_frames > 100 and found_in_face > 0.9 * face_frames and found_in_none <= 2
    with warnings.catch_warnings():  # the shipped model learnt the camera's view too
        warnings.simplefilter("error", RuntimeWarning)
        camera = evaluate(world, tmp_path / "camera", *argv, "--perception", "camera")
    files = evaluate(world, tmp_path / "files", *argv)
    model = DEFAULT_CHECKPOINT.stem
    assert camera[model]["FRCorr"] != files[model]["FRCorr"]
    assert camera["PerceivedMime"]["FRCorr"] != files["PerceivedMime"]["FRCorr"]
    assert "speaker landmarks: camera." in (tmp_path / "camera" / "metrics.md").read_text()
    capsys.readouterr()
    assert main(["prepare", "--data", str(tmp_path), "--only", "camera"]) == 2
    assert "expected a world written by reactface synth" in capsys.readouterr().err


def test_a_smaller_set_size_scores_against_the_first_reactions_only(world, predictions, tmp_path):
    full = evaluate(world, tmp_path / "all", "--pred", predictions, "--baselines", "GTSet")
    two = evaluate(world, tmp_path / "two", "--pred", predictions, "--baselines", "GTSet",
                   "--set-size", "2")  # fmt: skip
    assert two["GTSet"]["FRDiv"] != full["GTSet"]["FRDiv"]  # GTSet cycles 2 reactions, not 6
    assert two["model"]["FRCorr"] <= full["model"]["FRCorr"]  # the best of fewer reactions
    assert "(the first 2)" in (tmp_path / "two" / "metrics.md").read_text()


def test_official_convention_prints_n_times_our_frcorr(world, predictions, tmp_path):
    ours = evaluate(world, tmp_path / "ours", "--pred", predictions, "--baselines", "none")
    official = evaluate(world, tmp_path / "official", "--pred", predictions, "--baselines",
                        "none", "--convention", "official")  # fmt: skip
    assert official["model"]["FRCorr"] == pytest.approx(SAMPLES * ours["model"]["FRCorr"])
    assert official["model"]["FRDist"] == pytest.approx(SAMPLES * ours["model"]["FRDist"])


def test_ablations_regenerate_without_an_input_and_report_the_change(world, tmp_path):
    results = evaluate(world, tmp_path / "ablate", "--checkpoint", DEFAULT_CHECKPOINT,
                       "--num-samples", 2, "--baselines", "none", "--ablate", "audio,visual",
                       "--name", "shipped")  # fmt: skip
    assert list(results) == ["shipped", "shipped (audio zeroed)", "shipped (face masked)"]
    full = results["shipped"]["FRCorr"]
    for name in list(results)[1:]:
        change = (results[name]["FRCorr"] - full) / abs(full)
        assert results[name][CHANGE] == pytest.approx(change)
    assert np.isnan(results["shipped"][CHANGE])
    assert results["shipped (face masked)"]["FRCorr"] != full  # the face is really masked
    markdown = (tmp_path / "ablate" / "metrics.md").read_text()
    assert "- shipped (face masked): " in markdown and "%" in markdown


def test_read_mime_mirrors_the_speaker_as_the_model_reads_it(world, tmp_path):
    read = read_speakers(DEFAULT_CHECKPOINT, world, "test", progress=False)
    data = load_react_split(world, "test")
    assert read.shape == data.speakers.shape
    # the speakers in the evaluation's order, read from their landmarks: close to the truth
    moving = data.speakers.reshape(-1, 58).std(0) > 1e-3
    truth, seen = data.speakers.reshape(-1, 58)[:, moving], read.reshape(-1, 58)[:, moving]
    correlation = [np.corrcoef(truth[:, c], seen[:, c])[0, 1] for c in range(truth.shape[1])]
    assert np.median(correlation) > 0.3
    results = evaluate(world, tmp_path / "read", "--checkpoint", DEFAULT_CHECKPOINT,
                       "--num-samples", 2, "--baselines", "DelayedMime,ReadMime")  # fmt: skip
    assert list(results)[1:] == ["DelayedMime", "ReadMime"]
    assert results["ReadMime"]["FRDiv"] == 0.0  # one mirror, repeated
    assert results["ReadMime"]["FRCorr"] != results["DelayedMime"]["FRCorr"]
    markdown = (tmp_path / "read" / "metrics.md").read_text()
    assert (
        "ReadMime: DelayedMime (" in markdown and "on val) on the speaker coefficients" in markdown
    )


def test_front_plots_frcorr_against_frdiv_of_several_evaluations(world, predictions, tmp_path):
    from PIL import Image

    evaluate(world, tmp_path / "a", "--pred", predictions)
    evaluate(world, tmp_path / "b", "--pred", predictions, "--front", tmp_path / "a/metrics.csv")
    assert Image.open(tmp_path / "b" / "front.png").size[0] > 600
    assert main(["evaluate", "--front", str(tmp_path / "a/metrics.csv"), str(tmp_path / "b/metrics.csv"),
                 "--out", str(tmp_path / "front")]) == 0  # fmt: skip
    assert (tmp_path / "front" / "front.png").stat().st_size > 10_000


# ---- the idle motion `reactface calibrate` fits --------------------------------------------


@pytest.fixture(scope="module")
def tracked(world):
    """The world with its train clips tracked by MediaPipe: the shipped model learnt the
    camera's view, so its samples are calibrated through the view learnt from them."""
    assert main(["prepare", "--data", str(world), "--only", "camera", "--split", "train"]) == 0
    return world


def test_calibration_adds_the_head_sway_the_samples_lack_and_only_that(tracked, tmp_path):
    world = tracked
    first, again = tmp_path / "calibrated.pt", tmp_path / "again.pt"
    fits = calibrate_checkpoint(DEFAULT_CHECKPOINT, world, first, samples=4, progress=False)
    for fit in fits:  # the samples' variance plus the added one is the set's
        total = np.hypot(fit.sample_std, fit.added_std)
        assert total == pytest.approx(max(fit.set_std, fit.sample_std), rel=1e-6)
    trained = load_trained_model(first)
    assert trained.model.config.idle
    idle = idle_channels(trained.face_model)
    assert [fit.channel for fit in fits] == [trained.face_model.names[c] for c in idle]
    scale = trained.model.idle.scale.numpy()
    assert not np.delete(scale, idle).any()  # weights and other channels untouched
    # calibrating a calibrated checkpoint measures the model without its idle motion
    assert calibrate_checkpoint(first, world, again, samples=4, progress=False) == fits
    assert torch.equal(load_trained_model(again).model.idle.scale, trained.model.idle.scale)

    data = load_react_split(world, "val", training_split=None)
    reactions = generate_reactions(first, world, "val", 4, progress=False)
    frames = min(reactions.shape[2], data.listeners.shape[1])
    moving = [c for c, fit in zip(idle, fits, strict=True) if fit.added_std > 0]
    generated = temporal_std(reactions[:, :, :frames])[moving]
    ratio = generated / reference_std(data.listeners[:, :frames], data.appropriate)[moving]
    assert moving and ((ratio > 0.5) & (ratio < 1.5)).all(), ratio


def test_calibrate_prints_the_fit_and_refuses_bad_input(tracked, tmp_path, capsys):
    out = tmp_path / "calibrated.pt"
    argv = ["calibrate", "--checkpoint", str(DEFAULT_CHECKPOINT), "--data", str(tracked),
            "--out", str(out), "--samples", "2", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "headYaw" in printed and "headPitch" not in printed and f"wrote {out}" in printed
    missing = tmp_path / "missing.pt"
    _, message = one_line_exit([*argv[:2], str(missing), *argv[3:]], capsys)
    assert f"checkpoint {missing} does not exist" in message
    _, message = one_line_exit([*argv[:-4], "--samples", "1"], capsys)
    assert "--samples must be at least 2" in message
    untracked = tmp_path / "synth"  # the view cannot be learnt: the command that makes it
    shutil.copytree(tracked, untracked, ignore=shutil.ignore_patterns("Camera_landmark_files"))
    _, message = one_line_exit([*argv[:3], "--data", str(untracked), *argv[5:]], capsys)
    assert f"reactface prepare --data {untracked} --only camera --split train" in message


# ---- bad input: one line naming what was expected --------------------------------------------


def one_line_exit(argv, capsys) -> tuple[int | str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    message = code if isinstance(code, str) else capsys.readouterr().err.strip()
    assert "\n" not in message and message.startswith(f"reactface {argv[0]}: ")
    return code, message


def test_unknown_ablations_and_misused_options_are_usage_errors(world, predictions, capsys):
    base = ["evaluate", "--data", str(world)]
    code, message = one_line_exit([*base, "--checkpoint", "x.pt", "--ablate", "smell"], capsys)
    assert code == 2 and "unknown input 'smell'; expected audio or visual" in message
    code, message = one_line_exit([*base, "--pred", str(predictions), "--ablate", "audio"], capsys)
    assert code == 2 and "--ablate needs --checkpoint" in message
    code, message = one_line_exit([*base, "--pred", str(predictions), "--set-size", "0"], capsys)
    assert code == 2 and "--set-size must be >= 1" in message


def test_a_prediction_file_of_the_wrong_shape_is_named(world, predictions, tmp_path, capsys):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.load(predictions)[..., :56])  # 56 coefficients, not arkit58's 58
    _, message = one_line_exit(["evaluate", "--data", str(world), "--pred", str(wrong)], capsys)
    assert str(wrong) in message and "D=58)" in message and "face model arkit58" in message


@pytest.mark.parametrize("change", ["format_version", "state_dict"])
def test_a_checkpoint_from_an_older_code_version_is_one_line(world, tmp_path, capsys, change):
    raw = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    if change == "format_version":
        raw["format_version"] = 0
    else:  # an older architecture: a parameter this code's model has is missing
        raw["state_dict"].pop(next(iter(raw["state_dict"])))
    old = tmp_path / "old.pt"
    torch.save(raw, old)
    argv = ["evaluate", "--data", str(world), "--checkpoint", str(old), "--num-samples", "1"]
    _, message = one_line_exit(argv, capsys)
    assert str(old) in message
    expected = f"reads version {FORMAT_VERSION}" if change == "format_version" else "Missing key"
    assert expected in message
