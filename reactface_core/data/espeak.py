"""Real speech from espeak-ng, the Debian text-to-speech program, at the model's audio rate.

The synthetic world and the real-face test clips need speech that is a voice, not noise
shaped like one. `speak` runs `espeak-ng --stdout` on one phrase and returns float32 mono
samples at `contract.AUDIO_RATE`, so callers place phrases on their own timeline and know
where every word is. Voices differ by accent, base voice (+m1..+m7 male, +f1..+f5
female), pitch, rate and amplitude (`Voice`); with `ssml=True` the text may carry SSML
(`<emphasis>`, `<prosody>`, `<break>`), e.g. to stress a word.

espeak-ng is a Debian package (`apt install espeak-ng`; `make` installs it); without it,
`speak` raises `EspeakMissing` naming the package.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from reactface_core.contract import AUDIO_RATE

PROGRAM = "espeak-ng"
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5")
LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")


class EspeakMissing(RuntimeError):
    """espeak-ng is not installed."""


@dataclass(frozen=True)
class Voice:
    """One speaker's voice: espeak-ng's -v LANGUAGE+VARIANT, -p, -s, -a."""

    language: str = "en-us"
    variant: str = "m3"
    pitch: int = 50  # 0-99, espeak's base pitch
    words_per_minute: int = 160  # espeak's -s
    amplitude: int = 100  # 0-200, espeak's -a

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Voice:
        """A random voice (male or female base, accent, pitch, pace, loudness)."""
        return cls(
            language=str(rng.choice(LANGUAGES)),
            variant=str(rng.choice(VARIANTS)),
            pitch=int(rng.integers(25, 80)),
            words_per_minute=int(rng.integers(135, 200)),
            amplitude=int(rng.integers(60, 130)),
        )

    def arguments(self) -> list[str]:
        return [
            "-v",
            f"{self.language}+{self.variant}",
            "-p",
            str(self.pitch),
            "-s",
            str(self.words_per_minute),
            "-a",
            str(self.amplitude),
        ]


@lru_cache(maxsize=1)
def program() -> str:
    """Path of espeak-ng, or EspeakMissing with how to install it."""
    path = shutil.which(PROGRAM)
    if path is None:
        raise EspeakMissing(
            "espeak-ng is not installed: speech synthesis needs the Debian package espeak-ng "
            "(sudo apt-get install espeak-ng; `make` installs it)"
        )
    return path


def speak(
    text: str, voice: Voice = Voice(), rate: int = AUDIO_RATE, ssml: bool = False
) -> np.ndarray:
    """One phrase spoken by `voice`: float32 mono samples in [-1, 1] at `rate` Hz.

    Leading and trailing silence that espeak-ng adds is trimmed, so the phrase starts at
    sample 0 and its length is its spoken duration.
    """
    result = subprocess.run(
        [program(), "--stdout", "-z", *voice.arguments(), *(["-m"] if ssml else []), "--", text],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(
            f"espeak-ng failed on {text[:40]!r} with voice {voice}: "
            f"{result.stderr.decode(errors='replace').strip() or 'no audio'}"
        )
    with wave.open(io.BytesIO(result.stdout)) as wav:
        source_rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    samples = pcm.astype(np.float32) / 32768.0
    if source_rate != rate:
        divisor = gcd(source_rate, rate)
        samples = resample_poly(samples, rate // divisor, source_rate // divisor)
    return trim_silence(np.clip(samples, -1.0, 1.0).astype(np.float32), rate)


def trim_silence(samples: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Drop the leading and trailing stretches quieter than `threshold` (10 ms frames)."""
    hop = max(1, rate // 100)
    frames = len(samples) // hop
    if frames == 0:
        return samples
    loud = np.abs(samples[: frames * hop]).reshape(frames, hop).max(axis=1) > threshold
    if not loud.any():
        return samples[:0]
    first, last = np.flatnonzero(loud)[[0, -1]]
    return samples[first * hop : (last + 1) * hop]
