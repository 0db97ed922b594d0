"""The time-aligned speaker buffer: stamps, not arrival order, decide the 25 fps grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import upfirdn

from reactface_core.speaker_grid import Rejected, SpeakerBuffer, StreamResampler

T0 = 1_700_000_000 * 10**9 + 123_456_789  # a realistic wall-clock stamp (ns)
FRAME = 40_000_000  # ns at 25 fps
CHUNK = 320  # 20 ms at 16 kHz


def ramp(n: int) -> np.ndarray:
    """A signal whose value tells each sample's index, so misplacement is visible."""
    return (np.arange(n, dtype=np.float32) % 10_000) / 10_000.0


def feed_in_time_order(buffer, frames, chunks):
    """Deliver (stamp, payload) frames and (stamp, samples, rate) chunks as a robot would:
    a frame when it is captured, a chunk when its last sample is captured."""
    events = [(stamp, 0, ("frame", stamp, payload)) for stamp, payload in frames]
    events += [
        (stamp + len(samples) * 10**9 // rate, 1, ("audio", stamp, samples, rate))
        for stamp, samples, rate in chunks
    ]
    out = []
    for _, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        if event[0] == "frame":
            buffer.add_frame(event[1], event[2])
        else:
            buffer.add_audio(event[1], event[2], event[3])
        out += buffer.pop_ready()
    return out


def speaker(seconds: float, drop_frames=(), drop_chunks=()):
    n_frames = int(seconds * 25)
    frames = [(T0 + i * FRAME, f"frame{i}") for i in range(n_frames) if i not in drop_frames]
    signal = ramp(n_frames * 640)
    chunks = [
        (T0 + j * 20_000_000, signal[j * CHUNK : (j + 1) * CHUNK], 16_000)
        for j in range(n_frames * 2)
        if j not in drop_chunks
    ]
    return frames, chunks, signal


@pytest.mark.parametrize(
    ("rate_in", "chunk_sizes"),
    [(48_000, (960, 7, 1500)), (44_100, (882, 441, 13)), (8_000, (160, 33)), (32_000, (640,))],
)
def test_stream_resampler_equals_offline_polyphase_filter_for_any_chunking(rate_in, chunk_sizes):
    rng = np.random.default_rng(0)
    signal = rng.standard_normal(rate_in // 2)
    resampler = StreamResampler(rate_in)
    pieces, start, turn = [], 0, 0
    while start < len(signal):
        size = chunk_sizes[turn % len(chunk_sizes)]
        pieces.append(resampler(signal[start : start + size]))
        start, turn = start + size, turn + 1
    streamed = np.concatenate(pieces)
    offline = upfirdn(resampler.filter, signal, resampler.up, resampler.down)
    assert len(streamed) == int(np.ceil(len(signal) * resampler.up / resampler.down))
    np.testing.assert_allclose(streamed, offline[: len(streamed)], atol=1e-5)


def test_stream_resampler_keeps_a_tone_and_passes_16k_through():
    assert np.array_equal(StreamResampler(16_000)(np.ones(5)), np.ones(5, np.float32))
    t = np.arange(48_000) / 48_000
    out = StreamResampler(48_000)(np.sin(2 * np.pi * 1000 * t))
    expected = np.sin(2 * np.pi * 1000 * (np.arange(len(out)) - 10) / 16_000)  # 10-sample lag
    np.testing.assert_allclose(out[100:], expected[100:], atol=2e-3)


def test_perfect_streams_give_one_slot_per_frame_with_its_own_audio():
    frames, chunks, signal = speaker(2.0)
    out = feed_in_time_order(SpeakerBuffer(), frames, chunks)
    assert [f.index for f in out] == list(range(50))
    assert [f.stamp_ns for f in out] == [T0 + i * FRAME for i in range(50)]
    assert [f.visual for f in out] == [f"frame{i}" for i in range(50)]
    for f in out:
        np.testing.assert_array_equal(f.audio, signal[f.index * 640 : (f.index + 1) * 640])
        assert not f.held and f.audio_filled == 0.0


def test_arrival_order_does_not_matter_only_stamps_do():
    frames, chunks, signal = speaker(1.0)
    in_time = feed_in_time_order(SpeakerBuffer(), frames, chunks)
    # all audio first (a buffered microphone), then all frames (a slow camera driver)
    buffer = SpeakerBuffer(max_delay=10.0)
    for stamp, samples, rate in chunks:
        buffer.add_audio(stamp, samples, rate)
    out = buffer.pop_ready()
    for stamp, payload in frames:
        buffer.add_frame(stamp, payload)
        out += buffer.pop_ready()
    assert [(f.stamp_ns, f.visual) for f in out] == [(f.stamp_ns, f.visual) for f in in_time]
    np.testing.assert_array_equal(
        np.concatenate([f.audio for f in out]), np.concatenate([f.audio for f in in_time])
    )


def test_missing_frame_holds_the_previous_one_and_a_lost_chunk_is_zero_filled():
    frames, chunks, signal = speaker(1.0, drop_frames={5}, drop_chunks={21})
    buffer = SpeakerBuffer()
    out = feed_in_time_order(buffer, frames, chunks)
    assert len(out) == 25
    assert out[5].held and out[5].visual == "frame4" and out[5].source_stamp_ns == T0 + 4 * FRAME
    assert [f.index for f in out if f.held] == [5]
    assert out[10].audio_filled == 0.5  # chunk 21 = second half of frame 10
    np.testing.assert_array_equal(out[10].audio[:320], signal[6400:6720])
    assert not out[10].audio[320:].any()
    assert buffer.stats.held == 1 and buffer.stats.audio_filled == 1


def test_dead_microphone_zero_fills_after_max_delay():
    frames, _, _ = speaker(1.0)
    buffer = SpeakerBuffer(max_delay=0.2)
    emitted_at = {}
    for stamp, payload in frames:
        buffer.add_frame(stamp, payload)
        for f in buffer.pop_ready():
            emitted_at[f.index] = stamp
    # slot i waits until the camera is max_delay past its end: frame i + 1 + 5
    assert emitted_at[0] == T0 + 6 * FRAME
    assert len(emitted_at) == 25 - 6
    assert buffer.stats.audio_filled == 19 and buffer.queue_depth == 6


def test_dead_camera_still_produces_slots_without_a_face():
    _, chunks, signal = speaker(1.0)
    buffer = SpeakerBuffer(max_delay=0.2)
    out = []
    for stamp, samples, rate in chunks:
        buffer.add_audio(stamp, samples, rate)
        out += buffer.pop_ready()
    assert len(out) >= 15
    assert all(f.visual is None and f.held for f in out)
    assert out[0].stamp_ns == T0
    np.testing.assert_array_equal(out[3].audio, signal[3 * 640 : 4 * 640])


def test_faster_camera_is_decimated_to_the_nearest_frame():
    n = 30
    frames = [(T0 + round(i * 1e9 / 30), i) for i in range(n)]  # 30 fps for 1 s
    _, chunks, _ = speaker(1.0)
    buffer = SpeakerBuffer()
    out = feed_in_time_order(buffer, frames, chunks)
    assert len(out) == 25 and not any(f.held for f in out)
    for f in out:  # the chosen frame is the one nearest to the slot's stamp
        nearest = min(frames, key=lambda fr: abs(fr[0] - f.stamp_ns))
        assert f.visual == nearest[1]
    assert buffer.stats.extra_frames == 5


def test_stereo_48k_audio_is_mixed_down_and_resampled():
    rate = 48_000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)
    frames = [(T0 + i * FRAME, i) for i in range(25)]
    chunks = [(T0 + j * 20_000_000, stereo[j * 960 : (j + 1) * 960], rate) for j in range(50)]
    out = feed_in_time_order(SpeakerBuffer(), frames, chunks)
    audio = np.concatenate([f.audio for f in out])
    expected = np.sin(2 * np.pi * 440 * (np.arange(len(audio)) - 10) / 16_000)
    np.testing.assert_allclose(audio[100:], expected[100:], atol=2e-3)
    assert all(f.audio_filled == 0 for f in out[1:])


def test_stamp_jitter_within_half_a_chunk_keeps_audio_contiguous():
    frames, chunks, signal = speaker(1.0)
    rng = np.random.default_rng(1)
    jittered = [(s + int(rng.integers(-3, 4)) * 1_000_000, x, r) for s, x, r in chunks]
    jittered[0] = chunks[0]
    out = feed_in_time_order(SpeakerBuffer(), frames, jittered)
    np.testing.assert_array_equal(np.concatenate([f.audio for f in out]), signal[: 25 * 640])


def test_bad_messages_are_rejected_with_a_reason_and_the_stream_goes_on():
    buffer = SpeakerBuffer(sample_rate=16_000)
    buffer.add_frame(T0, "a")
    with pytest.raises(Rejected, match="non-monotonic camera stamp"):
        buffer.add_frame(T0, "again")
    with pytest.raises(Rejected, match="non-monotonic camera stamp"):
        buffer.add_frame(T0 - FRAME, "older")
    buffer.add_audio(T0, np.zeros(320), 16_000)
    with pytest.raises(Rejected, match="wrong sample rate 48000 Hz: this audio stream is 16000"):
        buffer.add_audio(T0 + 20_000_000, np.zeros(960), 48_000)
    with pytest.raises(Rejected, match="wrong sample rate 100 Hz"):
        buffer.add_audio(T0 + 20_000_000, np.zeros(2), 100)
    with pytest.raises(Rejected, match="non-monotonic audio stamp"):
        buffer.add_audio(T0 - 20_000_000, np.zeros(320), 16_000)
    with pytest.raises(Rejected, match="non-empty"):
        buffer.add_audio(T0 + 20_000_000, np.zeros(0), 16_000)
    assert buffer.stats.rejected == 6
    # the stream continues as if the bad messages never came
    buffer.add_audio(T0 + 20_000_000, np.ones(320), 16_000)
    buffer.add_frame(T0 + FRAME, "b")
    (first,) = buffer.pop_ready()
    assert first.visual == "a" and first.audio_filled == 0.0
    np.testing.assert_array_equal(first.audio[320:], 1.0)


def test_frames_for_slots_already_emitted_are_rejected_as_late():
    buffer = SpeakerBuffer(max_delay=0.0)
    buffer.add_frame(T0, 0)
    buffer.add_audio(T0, np.zeros(3 * 640), 16_000)
    buffer.add_frame(T0 + 2 * FRAME + 1, 2)  # frame 1 skipped: slot 1 is held
    assert [f.index for f in buffer.pop_ready()] == [0, 1, 2]
    with pytest.raises(Rejected, match="non-monotonic"):
        buffer.add_frame(T0 + FRAME, 1)
    buffer2 = SpeakerBuffer(max_delay=0.1)
    buffer2.add_frame(T0, 0)
    buffer2.add_audio(T0, np.zeros(4 * 640), 16_000)
    assert len(buffer2.pop_ready()) == 1  # slot 1 (ends at 80 ms) waits for the camera ...
    buffer2.add_audio(T0 + 4 * FRAME, np.zeros(2 * 640), 16_000)
    # ... until the audio is 100 ms past a slot's end: slots 1 and 2, not 3
    assert [f.index for f in buffer2.pop_ready()] == [1, 2]
    with pytest.raises(Rejected, match="late camera frame"):
        buffer2.add_frame(T0 + 2 * FRAME, 2)
    buffer2.add_frame(T0 + 3 * FRAME, 3)
    assert [(f.index, f.held) for f in buffer2.pop_ready()] == [(3, False)]


def test_sample_selection_policies():
    from reactface_core.speaker_grid import SampleSelector

    # three samples of a window (N=3, w=4, D=2): constant levels 0, 1 and 10
    windows = np.stack([np.full((4, 2), level, np.float32) for level in (0.0, 1.0, 10.0)])
    assert SampleSelector("first")(windows) == 0
    assert SampleSelector("most_typical")(windows) == 1  # nearest the mean level 3.67
    sticky = SampleSelector("sticky")
    assert sticky(windows) == 1  # no history yet: most typical
    later = np.stack([np.full((4, 2), level, np.float32) for level in (9.0, 2.0, 0.5)])
    assert sticky(later) == 2  # 0.5 continues the last shown level 1.0 most smoothly
    picks = [SampleSelector("random", seed=3)(windows) for _ in range(2)]
    assert picks[0] == picks[1]  # seeded
    chooser = SampleSelector("random", seed=0)
    assert set(chooser(windows) for _ in range(50)) == {0, 1, 2}
    with pytest.raises(ValueError, match="one of first, random, most_typical, sticky"):
        SampleSelector("best")


def test_new_session_when_stamps_jump_back_or_resume_after_silence():
    buffer = SpeakerBuffer()
    buffer.add_frame(T0, 0)
    buffer.add_audio(T0, np.zeros(640), 16_000)
    assert not buffer.starts_new_session(T0 + FRAME, camera=True, gap=2.0)
    assert not buffer.starts_new_session(T0 - FRAME, camera=True, gap=2.0)  # rejected, not new
    assert buffer.starts_new_session(T0 - 3 * 10**9, camera=True, gap=2.0)  # a bag played again
    assert buffer.starts_new_session(T0 - 3 * 10**9, camera=False, gap=2.0)
    assert buffer.starts_new_session(T0 + 5 * 10**9, camera=True, gap=2.0)  # both were silent
    assert not buffer.starts_new_session(T0 + 1 * 10**9, camera=False, gap=2.0)
