"""ReactFace model: shapes, config, Eq. 3 and Eq. 4 values, causality, missing faces."""

from __future__ import annotations

import math

import pytest
import torch

from reactface_core.model import ReactFace, ReactFaceConfig
from reactface_core.model.latent import interpolate_latents, latent_momentum
from reactface_core.model.sampling_decoder import sinusoidal_positions

VISUAL_DIM, AUDIO_DIM = 12, 6


def tiny_config(**changes) -> ReactFaceConfig:
    values = dict(
        visual_dim=VISUAL_DIM, audio_dim=AUDIO_DIM, dim=32, heads=2, window=4, period=3,
        context=12, dropout=0.0,
    )  # fmt: skip
    values.update(changes)
    return ReactFaceConfig(**values)


def tiny_model(seed: int = 0, **changes) -> ReactFace:
    torch.manual_seed(seed)
    return ReactFace(tiny_config(**changes)).eval()


def inputs(batch: int, frames: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    visual = torch.randn(batch, frames, VISUAL_DIM, generator=g)
    audio = torch.randn(batch, 2 * frames, AUDIO_DIM, generator=g)
    return visual, audio


def run(model, visual, audio, seed=5, **kwargs):
    with torch.no_grad():
        return model(visual, audio, generator=torch.Generator().manual_seed(seed), **kwargs)


# -- Eq. 3 and Eq. 4 -------------------------------------------------------------------


def test_eq3_interpolation_endpoints_and_steps():
    previous, current = torch.tensor([[0.0, 2.0]]), torch.tensor([[4.0, -2.0]])
    z = interpolate_latents(previous, current, window=4)
    assert z.shape == (1, 4, 2)
    assert torch.equal(z[0, -1], current[0])  # tau = t gives z_t
    # tau = t-w+1 .. t: z_{t-w} + (tau - (t-w)) / w * (z_t - z_{t-w})
    assert torch.allclose(z[0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert torch.allclose(z[0, :, 1], torch.tensor([1.0, 0.0, -1.0, -2.0]))


def test_latent_momentum():
    previous, sampled = torch.tensor([[1.0, -1.0]]), torch.tensor([[3.0, 1.0]])
    assert torch.allclose(latent_momentum(previous, sampled, 0.25), torch.tensor([[2.5, 0.5]]))
    assert torch.equal(latent_momentum(previous, sampled, 0.0), sampled)


def test_model_applies_momentum_between_windows():
    model = tiny_model(momentum=0.3)
    visual, audio = inputs(1, 8)
    with torch.no_grad():
        face, speech = model.speaker(visual, torch.ones(1, 8, dtype=torch.bool), audio,
                                     model.speaker.new_state(chunk=8))  # fmt: skip
        state = model.new_listener_state(online=False)
        model.remember_speaker(state, face, speech)
        mean1 = model.generate_window(state, 1, None).prior[0]
        assert torch.equal(state.latent, mean1)  # first window: z_w = z*_w
        mean2 = model.generate_window(state, 1, None).prior[0]
    assert torch.allclose(state.latent, 0.3 * mean1 + 0.7 * mean2, atol=1e-7)
    assert not torch.allclose(mean1, mean2)


def test_eq4_sinusoidal_values():
    p = sinusoidal_positions(torch.tensor([0, 1, 5]), 4)  # 10000^(2/4) = 100
    expected = [
        [0.0, 1.0, 0.0, 1.0],
        [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)],
        [-0.9589242747, 0.2836621855, 0.0499791693, 0.9987502604],
    ]
    assert torch.allclose(p, torch.tensor(expected), atol=1e-7)


# -- whole model -----------------------------------------------------------------------


def test_forward_shapes_and_padding_to_whole_windows():
    model = tiny_model()
    visual, audio = inputs(2, 23)  # 23 frames: 6 windows of 4, the last one cut
    out = run(model, visual, audio, samples=3)
    assert out["listener"].shape == (2, 3, 23, 58)
    assert out["speaker"].shape == (2, 23, 58)
    assert out["mu"].shape == out["logvar"].shape == (2, 3, 6, 32)
    assert torch.isfinite(out["listener"]).all()
    # samples differ, and batch rows are independent of each other
    assert (out["listener"][:, 0] - out["listener"][:, 1]).abs().max() > 1e-3
    single = run(model, visual[1:], audio[1:], samples=3, deterministic=True)
    both = run(model, visual, audio, samples=3, deterministic=True)
    assert torch.allclose(single["listener"][0], both["listener"][1], atol=1e-5)


def test_reading_the_speaker_alone_gives_the_reconstruction_generation_reports():
    model = tiny_model()
    visual, audio = inputs(2, 23)
    valid = torch.ones(2, 23, dtype=torch.bool)
    valid[1, 5:12] = False  # a span with no face
    with torch.no_grad():
        read = model.read_speaker(visual, audio, valid)
    assert read.shape == (2, 23, 58)
    torch.testing.assert_close(read, run(model, visual, audio, visual_valid=valid)["speaker"])
    with torch.no_grad():  # what it reads depends on what it sees
        assert (read - model.read_speaker(visual, audio)).abs().max() > 1e-4


def test_deterministic_variant_is_the_mean_for_every_sample():
    model = tiny_model()
    out = run(model, *inputs(1, 16), samples=4, deterministic=True)
    assert torch.allclose(out["listener"][0, 0], out["listener"][0, 3])
    out2 = run(model, *inputs(1, 16), seed=99, samples=4, deterministic=True)
    assert torch.equal(out["listener"], out2["listener"])


@pytest.mark.parametrize("follow", [False, True], ids=["published", "follow"])
@pytest.mark.parametrize("cut", [9, 15, 18])
def test_causality_perturbing_after_t_changes_nothing_up_to_t(cut, follow):
    model = tiny_model(follow=follow, follow_frames=6)
    visual, audio = inputs(1, 32)
    before = run(model, visual, audio, samples=2)
    g = torch.Generator().manual_seed(7)
    visual2, audio2 = visual.clone(), audio.clone()
    visual2[:, cut + 1 :] += torch.randn(visual2[:, cut + 1 :].shape, generator=g)
    audio2[:, 2 * (cut + 1) :] += torch.randn(audio2[:, 2 * (cut + 1) :].shape, generator=g)
    after = run(model, visual2, audio2, samples=2)
    keep = cut + 1
    assert torch.allclose(before["listener"][:, :, :keep], after["listener"][:, :, :keep])
    assert torch.allclose(before["speaker"][:, :keep], after["speaker"][:, :keep])
    assert not torch.allclose(before["listener"][:, :, keep:], after["listener"][:, :, keep:])
    assert not torch.allclose(before["speaker"][:, keep:], after["speaker"][:, keep:])
    # the distribution of a window only depends on what happened before the window
    windows = keep // 4 + 1
    assert torch.allclose(before["mu"][:, :, :windows], after["mu"][:, :, :windows])


def test_audio_of_the_current_frame_counts_but_not_the_next():
    model = tiny_model()
    visual, audio = inputs(1, 8)
    base = run(model, visual, audio, deterministic=True)["listener"][0, 0]
    for step, changed in ((9, True), (10, False)):  # frame 4 (0-based) owns steps 8, 9
        audio2 = audio.clone()
        audio2[:, step] += 3.0
        frame4 = run(model, visual, audio2, deterministic=True)["listener"][0, 0, 4]
        assert (
            (frame4 - base[4]).abs().max().item() > 1e-6
            if changed
            else torch.allclose(frame4, base[4])
        )


def test_context_only_cuts_what_is_older_than_the_context():
    visual, audio = inputs(1, 40)
    bounded = run(tiny_model(context=100), visual, audio, samples=2)["listener"]
    unbounded = run(tiny_model(context=None), visual, audio, samples=2)["listener"]
    short = run(tiny_model(context=6), visual, audio, samples=2)["listener"]
    assert torch.allclose(bounded, unbounded, atol=1e-6)
    assert not torch.allclose(short, unbounded, atol=1e-3)


def test_missing_faces_are_ignored_not_read():
    model = tiny_model()
    visual, audio = inputs(1, 16)
    valid = torch.ones(1, 16, dtype=torch.bool)
    valid[0, 5:9] = False
    base = run(model, visual, audio, visual_valid=valid, samples=2)
    visual2 = visual.clone()
    visual2[0, 5:9] = float("nan")  # what a tracker without a face might hand over
    other = run(model, visual2, audio, visual_valid=valid, samples=2)
    assert torch.allclose(base["listener"], other["listener"])
    nan_only = run(model, visual2, audio, samples=2)  # NaN rows count as missing by themselves
    assert torch.allclose(base["listener"], nan_only["listener"])


def test_training_mode_backpropagates_to_every_stage():
    model = tiny_model(dropout=0.1).train()
    visual, audio = inputs(2, 12)
    valid = torch.rand(2, 12, generator=torch.Generator().manual_seed(0)) > 0.2
    out = model(visual, audio, visual_valid=valid, samples=2)
    loss = out["listener"].square().mean() + out["speaker"].square().mean()
    loss = loss + out["mu"].square().mean() + out["logvar"].square().mean()
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert silent == []


# -- beyond the paper: session style latent, recognition networks -----------------------

STYLE = dict(style_dim=4, posterior=True)


def test_style_is_drawn_once_per_session_and_keeps_each_sample_apart():
    model = tiny_model(**STYLE)
    visual, audio = inputs(1, 24)
    out = run(model, visual, audio, samples=3)
    assert out["listener"].shape == (1, 3, 24, 58) and "q_mu" not in out
    # one style draw then one window draw per window: the same seed gives the same samples
    assert torch.equal(out["listener"], run(model, visual, audio, samples=3)["listener"])
    mean = run(model, visual, audio, samples=2, deterministic=True)["listener"]
    assert torch.allclose(mean[0, 0], mean[0, 1])  # deterministic: s = 0 and z* = mu
    with torch.no_grad():  # the style shifts every window's prior, not only the first
        state = model.new_listener_state(online=False)
        face, speech = model.speaker(visual, torch.ones(1, 24, dtype=torch.bool), audio,
                                     model.speaker.new_state(chunk=24))  # fmt: skip
        model.remember_speaker(state, face, speech)
        model.start_session(state, torch.tensor([[0.0] * 4, [3.0] * 4]))
        means = [model.generate_window(state, 2, None).prior[0] for _ in range(3)]
        assert all((m[0] - m[1]).abs().max() > 1e-3 for m in means)
        with pytest.raises(ValueError, match="drawn once, before the first window"):
            model.start_session(state, torch.zeros(2, 4))


def test_posterior_reads_the_real_listener_and_reports_its_distributions():
    model = tiny_model(**STYLE)
    visual, audio = inputs(2, 22)  # 6 windows, the last one cut
    target = torch.randn(2, 22, 58, generator=torch.Generator().manual_seed(4))
    out = run(model, visual, audio, samples=2, target=target)
    assert out["q_mu"].shape == out["q_logvar"].shape == out["mu"].shape == (2, 2, 6, 32)
    assert out["style_mu"].shape == out["style_logvar"].shape == (2, 2, 4)
    assert torch.equal(out["style_mu"][:, 0], out["style_mu"][:, 1])  # one listener per row
    other = target.clone()
    other[:, 12:] += 1.0  # the style posterior reads the whole listener
    assert not torch.allclose(out["style_mu"], run(model, visual, audio, target=other)["style_mu"])
    windows_only = tiny_model(posterior=True)  # a window's posterior reads it and the next
    out = run(windows_only, visual, audio, target=target)
    changed = run(windows_only, visual, audio, target=other)
    assert torch.allclose(out["q_mu"][:, :, :2], changed["q_mu"][:, :, :2])  # frames 0..7
    assert not torch.allclose(out["q_mu"][:, :, 2], changed["q_mu"][:, :, 2])  # sees 12..15
    with pytest.raises(ValueError, match="needs a model with posterior=True"):
        run(tiny_model(), visual, audio, target=target)


def test_style_and_posterior_models_train_end_to_end():
    model = tiny_model(dropout=0.1, **STYLE).train()
    visual, audio = inputs(2, 12)
    target = torch.randn(2, 12, 58, generator=torch.Generator().manual_seed(4))
    valid = torch.rand(2, 12, generator=torch.Generator().manual_seed(0)) > 0.2
    out = model(visual, audio, visual_valid=valid, samples=1, target=target)
    loss = sum(out[k].square().mean() for k in out)
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert silent == []


CATEGORICAL = dict(latent_groups=3, latent_classes=5)


def test_categorical_latent_draws_one_class_per_variable_and_its_mean_is_the_expectation():
    model = tiny_model(**CATEGORICAL)
    visual, audio = inputs(2, 12)
    out = run(model, visual, audio, samples=4)
    assert out["logits"].shape == (2, 4, 3, 3, 5) and "mu" not in out
    assert (out["listener"][:, 0] - out["listener"][:, 1]).abs().max() > 1e-3
    logits = torch.randn(6, 15, generator=torch.Generator().manual_seed(0))
    uniform = torch.rand(6, 15, generator=torch.Generator().manual_seed(1))
    z = model.categorical(logits, uniform)
    table = model.categorical.embedding.weight.T  # (G K, d): one row per class
    chosen = (logits.view(6, 3, 5) - torch.log(-torch.log(uniform.view(6, 3, 5)))).argmax(-1)
    rows = chosen + 5 * torch.arange(3)  # class k of variable g is row 5 g + k
    assert torch.allclose(z, table[rows].sum(1), atol=1e-6)
    mean = model.categorical(logits, None)
    assert torch.allclose(mean, logits.view(6, 3, 5).softmax(-1).flatten(1) @ table, atol=1e-6)


def test_categorical_posterior_trains_the_prior_and_embedding():
    model = tiny_model(dropout=0.1, posterior=True, **CATEGORICAL).train()
    visual, audio = inputs(2, 12)
    target = torch.randn(2, 12, 58, generator=torch.Generator().manual_seed(4))
    valid = torch.rand(2, 12, generator=torch.Generator().manual_seed(0)) > 0.2
    out = model(visual, audio, visual_valid=valid, target=target)
    assert out["q_logits"].shape == out["logits"].shape == (2, 1, 3, 3, 5)
    loss = out["listener"].square().mean() + out["speaker"].square().mean()
    loss = loss + (out["q_logits"] - out["logits"]).square().mean()
    loss.backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert silent == [] and model.categorical.embedding.weight.grad.abs().sum() > 0


def test_config_round_trip_and_clear_errors():
    config = tiny_config(face_model="flame56", momentum=0.7)
    assert ReactFaceConfig.from_dict(config.to_dict()) == config
    assert ReactFace(config)(*inputs(1, 4), samples=1)["listener"].shape[-1] == 56
    with pytest.raises(ValueError, match="unknown ReactFaceConfig fields"):
        ReactFaceConfig.from_dict({"dimm": 3})
    with pytest.raises(ValueError, match="audio_encoder must be one of"):
        tiny_config(audio_encoder="mfcc")
    with pytest.raises(ValueError, match="wav2vec2_path"):
        tiny_config(audio_encoder="wav2vec2")
    with pytest.raises(ValueError, match="style_dim and latent_groups must be >= 0"):
        tiny_config(style_dim=-1)
    with pytest.raises(ValueError, match="latent_classes must be >= 2"):
        tiny_config(latent_groups=2, latent_classes=1)
    model = tiny_model()
    visual, audio = inputs(1, 8)
    with pytest.raises(ValueError, match=r"visual_dim=12"):
        model(visual[..., :5], audio)
    with pytest.raises(ValueError, match=r"expected batch 1 and 16 audio feature steps"):
        model(visual, audio[:, :9])


def test_checkpoint_round_trip_reproduces_outputs():
    model = tiny_model()
    visual, audio = inputs(1, 12)
    saved = {"config": model.config.to_dict(), "state": model.state_dict()}
    restored = ReactFace(ReactFaceConfig.from_dict(saved["config"])).eval()
    restored.load_state_dict(saved["state"])
    assert torch.equal(
        run(model, visual, audio)["listener"], run(restored, visual, audio)["listener"]
    )


def test_default_input_sizes_match_perception():
    from reactface_core.perception.audio import AUDIO_FEATURE_DIM
    from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

    config = ReactFaceConfig()
    assert (config.visual_dim, config.audio_dim) == (VISUAL_FEATURE_DIM, AUDIO_FEATURE_DIM)


@pytest.mark.parametrize("mode", ["absolute", "window"])
def test_sampling_decoder_gets_eq4_time_steps(mode, monkeypatch):
    model = tiny_model(sd_positions=mode)
    seen = []
    decode = model.sampling_decoder.forward

    def recording(latents, steps):
        seen.append(steps.tolist())
        return decode(latents, steps)

    monkeypatch.setattr(model.sampling_decoder, "forward", recording)
    run(model, *inputs(1, 12))
    if mode == "absolute":  # t-w+1 .. t, 1-based, as in Eq. 4
        assert seen == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    else:  # position inside the window, for sessions longer than the training clips
        assert seen == [[1, 2, 3, 4]] * 3


def test_a_window_needs_the_speaker_up_to_its_end():
    model = tiny_model()
    state = model.new_listener_state(online=True)
    with pytest.raises(ValueError, match="speaker known up to frame 0, window needs 4"):
        model.generate_window(state, 1, None)
