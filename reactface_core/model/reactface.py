"""ReactFace (Fig. 2): speaker encoding, CIE sampling, sampling decoder, synchronisation.

Every w frames (Eq. 1-2) the model reads the speaker up to t and the reactions it has
generated up to t-w, and produces the next w reaction frames for each of its samples:

    CIE(H-_{1:t-w}) -> N(mu_t, sigma_t) -> z*_t -> momentum, Eq. 3 -> Z_{t-w+1:t}
    -> sampling decoder (Eq. 4) -> R. -> VIM, MIM (Eq. 8-11) -> R- -> head -> R^_{t-w+1:t}
    -> embedding -> VIM, MIM (cached) -> H-_{t-w+1:t}, appended to the CIE's history.

`forward` runs that loop over whole sequences for training; `ReactionGenerator`
(reactface_core.streaming) runs the same `generate_window` online.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reactface_core.model.attention import KeyValueCache
from reactface_core.model.cie import ConditionalInteractionEncoder
from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.encoders import SAMPLES_PER_AUDIO_STEP
from reactface_core.model.latent import interpolate_latents, latent_momentum
from reactface_core.model.listener import ReactionHead, SpeakerMemory, Synchroniser
from reactface_core.model.sampling_decoder import SamplingDecoder
from reactface_core.model.speaker import SpeakerEncoder

OFFLINE_CHUNK_FRAMES = 128  # speaker frames encoded per call in `forward` (bounds memory)


@dataclass
class ListenerState:
    """Everything the listener side remembers between windows (batch = speakers x samples)."""

    synchroniser: list[KeyValueCache]
    cie: list[KeyValueCache]
    memory: SpeakerMemory
    latent: torch.Tensor | None = None  # z_{t-w} (B r, d)
    frames: int = 0  # frames generated so far (t - w before a step)


class ReactFace(nn.Module):
    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.config = config
        self.speaker = SpeakerEncoder(config)
        self.reaction_embedding = nn.Linear(config.face_dim, config.dim)  # R^ -> H
        self.synchroniser = Synchroniser(config)
        self.cie = ConditionalInteractionEncoder(config)
        self.sampling_decoder = SamplingDecoder(config)
        self.reaction_head = ReactionHead(config)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and ".wav2vec2." not in f".{name}.":
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    # -- one step of Eq. 1 -------------------------------------------------------------

    def new_listener_state(self, online: bool) -> ListenerState:
        return ListenerState(
            self.synchroniser.new_state(),
            self.cie.new_state(),
            self.synchroniser.new_memory(online),
        )

    def remember_speaker(self, state: ListenerState, face, speech) -> None:
        """Give the listener side new aligned face F- (B, n, d) and speech A (B, k n, d)."""
        self.synchroniser.remember(face, speech, state.memory)

    def generate_window(
        self, state: ListenerState, batch: int, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Next w reaction frames (batch, w, D) with mu_t, log sigma_t^2 (batch, d).

        `noise` (batch, d) ~ N(0, I) draws z*_t = mu + sigma * noise; None takes the mean
        (the deterministic variant). The speaker must be remembered up to the window end.
        """
        w = self.config.window
        start = state.frames
        remembered = state.memory.face[0].end if state.memory.face else start + w
        if remembered < start + w:
            raise ValueError(f"speaker known up to frame {remembered}, window needs {start + w}")
        mean, log_variance = self.cie(state.cie, batch)
        sampled = mean if noise is None else mean + (0.5 * log_variance).exp() * noise
        if state.latent is None:  # first window: no z_{t-w} yet, hold z*_w
            previous = latent = sampled
        else:
            previous = state.latent
            latent = latent_momentum(previous, sampled, self.config.momentum)
        latents = interpolate_latents(previous, latent, w)  # Eq. 3, (batch, w, d)
        first_step = start + 1 if self.config.sd_positions == "absolute" else 1
        steps = torch.arange(first_step, first_step + w, device=latents.device)  # Eq. 4 t
        current = self.sampling_decoder(latents, steps)  # R._{t-w+1:t}
        current = self.synchroniser(current, state.synchroniser, state.memory, False)
        reactions = self.reaction_head(current)  # R^_{t-w+1:t}
        past = self.reaction_embedding(reactions)  # H_{t-w+1:t}, now history (Eq. 8-9)
        past = self.synchroniser(past, state.synchroniser, state.memory, True)
        self.cie.remember(past, state.cie)
        state.latent, state.frames = latent, start + w
        return reactions, mean, log_variance

    # -- whole sequences (training, evaluation) ----------------------------------------

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        visual_valid: torch.Tensor | None = None,
        samples: int = 1,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Generate `samples` reactions per speaker over whole sequences, causally.

        visual: landmark features (B, T, visual_dim) or frames (B, T, 3, S, S);
        audio: log-mel (B, k T, audio_dim) or waveform (B, 320 k T) at 16 kHz;
        visual_valid: (B, T) bool, False where no face was seen (default all True);
        generator: CPU torch.Generator for the latent noise (one (B*samples, d) draw per
        window, in window order, as `ReactionGenerator` draws it).

        Returns listener (B, samples, T, D), speaker (B, T, D) reconstruction R^s,
        mu and logvar (B, samples, windows, d) of the CIE distribution of each window.
        """
        config = self.config
        batch, frames = visual.shape[:2]
        visual, valid, audio = self._checked_inputs(visual, audio, visual_valid)
        w, k = config.window, config.audio_ratio
        padded = -(-frames // w) * w
        visual = _pad_time(visual, padded)
        valid = _pad_time(valid, padded)
        units = k * (SAMPLES_PER_AUDIO_STEP if config.audio_encoder == "wav2vec2" else 1)
        audio = _pad_time(audio, padded * units)

        chunk = -(-OFFLINE_CHUNK_FRAMES // w) * w
        speaker_state = self.speaker.new_state(chunk)
        faces, speeches = [], []
        for start in range(0, padded, chunk):
            face, speech = self.speaker(
                visual[:, start : start + chunk],
                valid[:, start : start + chunk],
                audio[:, start * units : (start + chunk) * units],
                speaker_state,
            )
            faces.append(face)
            speeches.append(speech)
        face, speech = torch.cat(faces, 1), torch.cat(speeches, 1)

        state = self.new_listener_state(online=False)
        self.remember_speaker(state, face, speech)
        rows = batch * samples
        reactions, means, log_variances = [], [], []
        for _ in range(padded // w):
            noise = None
            if not deterministic:
                noise = torch.randn(rows, config.dim, generator=generator).to(face.device)
            window, mean, log_variance = self.generate_window(state, rows, noise)
            reactions.append(window)
            means.append(mean)
            log_variances.append(log_variance)
        listener = torch.cat(reactions, 1)[:, :frames]
        return {
            "listener": listener.view(batch, samples, frames, -1),
            "speaker": self.speaker.reconstruct(face[:, :frames]),
            "mu": torch.stack(means, 1).view(batch, samples, len(means), -1),
            "logvar": torch.stack(log_variances, 1).view(batch, samples, len(means), -1),
        }

    def _checked_inputs(self, visual, audio, visual_valid):
        config = self.config
        batch, frames = visual.shape[:2]
        if config.visual_encoder == "landmarks" and (
            visual.ndim != 3 or visual.shape[2] != config.visual_dim
        ):
            raise ValueError(
                f"visual must be landmark features (B, T, visual_dim={config.visual_dim}), "
                f"got {tuple(visual.shape)}"
            )
        if visual_valid is None:
            visual_valid = torch.ones(batch, frames, dtype=torch.bool, device=visual.device)
        if visual_valid.shape != (batch, frames):
            raise ValueError(
                f"visual_valid must be (B, T) = {(batch, frames)}, got {tuple(visual_valid.shape)}"
            )
        k = config.audio_ratio
        if config.audio_encoder == "logmel":
            expected, unit = k * frames, "log-mel steps"
            if audio.ndim != 3 or audio.shape[2] != config.audio_dim:
                raise ValueError(
                    f"audio must be log-mel features (B, {k}T, audio_dim={config.audio_dim}), "
                    f"got {tuple(audio.shape)}"
                )
        else:
            expected, unit = k * frames * SAMPLES_PER_AUDIO_STEP, "samples at 16 kHz"
            if audio.ndim != 2:
                raise ValueError(f"audio must be a waveform (B, samples), got {audio.shape}")
        tolerance = expected // (k * frames) * k  # one video frame of audio
        if audio.shape[0] != batch or abs(audio.shape[1] - expected) > tolerance:
            raise ValueError(
                f"audio has shape {tuple(audio.shape)}: expected batch {batch} and "
                f"{expected} {unit} for T={frames} frames (k={k})"
            )
        return visual, visual_valid.bool(), audio[:, :expected]


def _pad_time(x: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad (B, n, ...) along time to `length` (False for bool masks)."""
    missing = length - x.shape[1]
    if missing <= 0:
        return x[:, :length]
    return torch.cat([x, x.new_zeros(x.shape[0], missing, *x.shape[2:])], 1)
