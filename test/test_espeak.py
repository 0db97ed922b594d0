"""espeak-ng speech: real audio at the model's rate, voices that differ, a clear error without it."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.contract import AUDIO_RATE
from reactface_core.data import espeak


def test_phrase_is_trimmed_speech_at_the_model_rate():
    samples = espeak.speak("hello there, how are you today")
    assert samples.dtype == np.float32
    assert 0.8 < len(samples) / AUDIO_RATE < 4.0  # a short phrase, no silence padding
    assert np.abs(samples[: AUDIO_RATE // 100]).max() > 0.01  # starts at once
    assert np.abs(samples).max() <= 1.0


def test_voices_and_rates_change_the_audio():
    slow = espeak.speak("one two three four five", espeak.Voice(words_per_minute=120))
    fast = espeak.speak("one two three four five", espeak.Voice(words_per_minute=220))
    assert len(slow) > 1.4 * len(fast)
    rng = np.random.default_rng(0)
    voices = {espeak.Voice.sample(rng) for _ in range(8)}
    assert len(voices) == 8


def test_ssml_emphasis_is_accepted():
    plain = espeak.speak("that is good")
    stressed = espeak.speak("that is <emphasis>good</emphasis>", ssml=True)
    assert len(stressed) > 0 and not np.array_equal(plain, stressed)


def test_missing_program_names_the_package(monkeypatch):
    espeak.program.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(espeak.EspeakMissing, match="espeak-ng"):
        espeak.speak("hello")
    espeak.program.cache_clear()
