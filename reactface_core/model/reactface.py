"""ReactFace (Fig. 2): speaker encoding, CIE sampling, sampling decoder, synchronisation.

Every w frames (Eq. 1-2) the model reads the speaker up to t and the reactions it has
generated up to t-w, and produces the next w reaction frames for each of its samples:

    CIE(H-_{1:t-w}) -> N(mu_t, sigma_t) -> z*_t -> momentum, Eq. 3 -> Z_{t-w+1:t}
    -> sampling decoder (Eq. 4) -> R. -> VIM, MIM (Eq. 8-11) -> R- -> head -> R^_{t-w+1:t}
    -> embedding -> VIM, MIM (cached) -> H-_{t-w+1:t}, appended to the CIE's history.

`forward` runs that loop over whole sequences for training; `ReactionGenerator`
(reactface_core.streaming) runs the same `generate_window` online.

Beyond the paper (off in the published configuration): a per-session style latent
s ~ N(0, I) (`style_dim`), drawn once when an interaction starts and added to the CIE's
tokens and to the latents of every window, so a sample keeps its way of reacting; and
recognition networks (`posterior`, training only) that infer z*_t and s from the real
listener, so the CIE learns its distribution as the prior of a conditional VAE; and
blinks and nods as sampled onsets with learnt shapes added to R^ (`events`); and a learnt
causal filter of the speaker added to R^ and to the onsets' hazard (`follow`); and idle
head sway drawn as smooth noise, fitted after training (`idle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from reactface_core.model.attention import KeyValueCache
from reactface_core.model.cie import ConditionalInteractionEncoder
from reactface_core.model.config import LANDMARK_ENCODER, ReactFaceConfig
from reactface_core.model.encoders import SAMPLES_PER_AUDIO_STEP
from reactface_core.model.events import EVENT_KINDS, EventHead, EventState
from reactface_core.model.follow import FollowState, SpeakerFollower
from reactface_core.model.idle import IdleMotion
from reactface_core.model.latent import (
    CategoricalLatent,
    interpolate_latents,
    latent_momentum,
)
from reactface_core.model.listener import ReactionHead, SpeakerMemory, Synchroniser
from reactface_core.model.posterior import PosteriorEncoder
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
    style: torch.Tensor | None = None  # the session's embedded style latent (B r, d)
    events: EventState | None = None  # event shapes still playing, time since onsets
    follow: FollowState | None = None  # speaker frames the follow filter still reads
    idle: torch.Tensor | None = None  # the idle motion filter's state (B r, 2, D)
    unsettled: torch.Tensor | None = None  # the last window's reactions, not yet history


class Window(NamedTuple):
    """One step of Eq. 1: reactions (B, w, D), the CIE prior of z*_t (mu_t, log sigma_t^2,
    each (B, d); or (logits (B, G K),) for a categorical latent), when a real listener
    was given the posterior it implies, alike (else None), and with `events` the onset
    logits (B, w, E)."""

    reactions: torch.Tensor
    prior: tuple
    posterior: tuple | None = None
    event_logits: torch.Tensor | None = None


class WindowNoise(NamedTuple):
    """The random draws of one window: z*_t's (`latent_noise`), and with `events` uniform
    noise (B, w, E) for the onsets, with `idle` white noise (B, w, D) for the idle motion;
    None in any: the deterministic choice."""

    latent: torch.Tensor | None = None
    events: torch.Tensor | None = None
    idle: torch.Tensor | None = None


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
        if config.style_dim:
            self.style_embedding = nn.Linear(config.style_dim, config.dim)  # s -> d
        if config.posterior:
            self.posterior = PosteriorEncoder(config)
        if config.categorical:
            self.categorical = CategoricalLatent(
                config.latent_groups, config.latent_classes, config.dim
            )
        if config.events:
            self.events = EventHead(config)
        if config.follow:
            self.follower = SpeakerFollower(config)
        if config.idle:
            self.idle = IdleMotion(config.face_dim)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and ".wav2vec2." not in f".{name}.":
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
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
        self.settle_window(state)  # the last window joins the history first, as it would have
        self.synchroniser.remember(face, speech, state.memory)
        if self.config.follow:
            state.follow = self.follower.remember(face, speech, state.follow)

    def latent_noise(self, rows: int, generator: torch.Generator | None) -> torch.Tensor:
        """The noise of one window's z*_t draw: N(0, I) (rows, d), or uniform (rows, G K)
        for a categorical latent; drawn from `generator` on the CPU."""
        config = self.config
        if config.categorical:
            return torch.rand(
                rows, config.latent_groups * config.latent_classes, generator=generator
            )
        return torch.randn(rows, config.dim, generator=generator)

    def window_noise(self, rows: int, generator: torch.Generator | None, device) -> WindowNoise:
        """All random draws of one window, in the order offline and online both use."""
        latent = self.latent_noise(rows, generator).to(device)
        events = None
        if self.config.events:
            shape = (rows, self.config.window, EVENT_KINDS)
            events = torch.rand(shape, generator=generator).to(device)
        idle = None
        if self.config.idle:
            shape = (rows, self.config.window, self.config.face_dim)
            idle = torch.randn(shape, generator=generator).to(device)
        return WindowNoise(latent, events, idle)

    def draw_latent(self, distribution: tuple, noise: torch.Tensor | None) -> torch.Tensor:
        """z*_t (B, d) from a prior or posterior and the noise of `latent_noise` (None: the
        distribution's mean)."""
        if self.config.categorical:
            return self.categorical(distribution[0], noise)
        mean, log_variance = distribution
        return mean if noise is None else mean + (0.5 * log_variance).exp() * noise

    def start_session(self, state: ListenerState, style: torch.Tensor) -> None:
        """Fix the session's style latent s (B, style_dim) before its first window."""
        if state.frames:
            raise ValueError("the style latent is drawn once, before the first window")
        state.style = self.style_embedding(style)

    def generate_window(
        self,
        state: ListenerState,
        batch: int,
        noise: WindowNoise | None,
        target: torch.Tensor | None = None,
        recognised: torch.Tensor | None = None,
        onsets: torch.Tensor | None = None,
        settle: bool = True,
    ) -> Window:
        """Next w reaction frames (batch, w, D) with mu_t, log sigma_t^2 (batch, d).

        `noise` (`window_noise`) draws z*_t, e.g. mu + sigma * noise, and the events' onsets;
        None takes the means (the deterministic variant). `target` (batch, 2w, D), training
        only: the real listener over this window and the next; z*_t is then drawn from the
        posterior it implies, in the rows where `recognised` (batch,) is True (default all)
        and is the prior's mean elsewhere. `onsets` (batch, w, E), training only: the real
        listener's event onsets, played instead of sampled ones. The speaker must be
        remembered up to the window end. settle=False leaves the window's reactions out of
        the history until `settle_window` (or the next speaker frames or window) adds
        them: the same operations, later, so a robot can show the window first.
        """
        self.settle_window(state)
        noise = noise or WindowNoise()
        w = self.config.window
        start = state.frames
        remembered = state.memory.face[0].end if state.memory.face else start + w
        if remembered < start + w:
            raise ValueError(f"speaker known up to frame {remembered}, window needs {start + w}")
        prior = self.cie(state.cie, batch, state.style)
        posterior = None
        if target is not None:
            posterior = self.posterior.window_latent(target, prior)
            sampled = self.draw_latent(posterior, noise.latent)
            if recognised is not None:
                sampled = torch.where(recognised[:, None], sampled, self.draw_latent(prior, None))
        else:
            sampled = self.draw_latent(prior, noise.latent)
        if state.latent is None:  # first window: no z_{t-w} yet, hold z*_w
            previous = latent = sampled
        else:
            previous = state.latent
            latent = latent_momentum(previous, sampled, self.config.momentum)
        latents = interpolate_latents(previous, latent, w)  # Eq. 3, (batch, w, d)
        if state.style is not None:
            latents = latents + state.style[:, None]
        first_step = start + 1 if self.config.sd_positions == "absolute" else 1
        steps = torch.arange(first_step, first_step + w, device=latents.device)  # Eq. 4 t
        current = self.sampling_decoder(latents, steps)  # R._{t-w+1:t}
        current = self.synchroniser(current, state.synchroniser, state.memory, False)
        reactions = self.reaction_head(current)  # R^_{t-w+1:t}
        followed = None
        if self.config.follow:  # h (B, w, 2d) per speaker -> (batch, w, 2d) per row
            followed = self.follower(state.follow, w)
            followed = followed.repeat_interleave(batch // followed.shape[0], 0)
            reactions = reactions + self.follower.coefficients(followed, state.style)
        event_logits = None
        if self.config.events:
            if state.events is None:
                state.events = self.events.new_state(batch, reactions)
            event_logits = self.events.logits(current)
            if followed is not None:
                event_logits = event_logits + self.follower.hazard(followed)
            if onsets is None:
                onsets = self.events.sample(event_logits, noise.events, state.events)
            reactions = reactions + self.events.play(onsets, state.events)
        state.unsettled = reactions
        if settle:
            self.settle_window(state)
        if noise.idle is not None:  # after the history: the model was trained without it
            if state.idle is None:
                state.idle = self.idle.new_state(batch, reactions)
            reactions = reactions + self.idle(noise.idle, state.idle)
        state.latent, state.frames = latent, start + w
        return Window(reactions, prior, posterior, event_logits)

    def settle_window(self, state: ListenerState) -> None:
        """Make the last window's reactions history (Eq. 8-9), if not yet done."""
        if state.unsettled is None:
            return
        past = self.reaction_embedding(state.unsettled)  # H_{t-w+1:t}
        state.unsettled = None
        past = self.synchroniser(past, state.synchroniser, state.memory, True)
        self.cie.remember(past, state.cie)

    def encode_speaker(
        self, visual: torch.Tensor, audio: torch.Tensor, visual_valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole speaker sequences (as `forward` takes them) -> aligned face F- (B, T', d) and
        speech A (B, k T', d), T' = T padded to whole windows; causal, in chunks."""
        config = self.config
        frames = visual.shape[1]
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
        return torch.cat(faces, 1), torch.cat(speeches, 1)

    def read_speaker(
        self, visual: torch.Tensor, audio: torch.Tensor, visual_valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The speaker's face coefficients as this model reads them: R^s (B, T, D) (Eq. 12's
        second term), without generating any listener."""
        face, _ = self.encode_speaker(visual, audio, visual_valid)
        return self.speaker.reconstruct(face[:, : visual.shape[1]])

    # -- whole sequences (training, evaluation) ----------------------------------------

    def forward(
        self,
        visual: torch.Tensor,
        audio: torch.Tensor,
        visual_valid: torch.Tensor | None = None,
        samples: int = 1,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
        target: torch.Tensor | None = None,
        recognised: torch.Tensor | None = None,
        onsets: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Generate `samples` reactions per speaker over whole sequences, causally.

        visual: landmark features (B, T, visual_dim) or frames (B, T, 3, S, S);
        audio: audio features (B, k T, audio_dim) or waveform (B, 320 k T) at 16 kHz;
        visual_valid: (B, T) bool, False where no face was seen (default all True);
        generator: CPU torch.Generator for the latent noise (the style latent (B*samples,
        style_dim) first when there is one, then one (B*samples, d) draw per window, in
        window order, as `ReactionGenerator` draws them);
        target: (B, T, D) real listener reactions (training a `posterior` model): the
        latents are then drawn from the posteriors they imply, not from the priors;
        recognised: (B,) bool, the speakers whose latents are recognised (default all); the
        others take the priors' means (s = 0, z*_t = mu_t): the model's deterministic path;
        onsets: (B, T, E) the real listener's event onsets (`events` models, training):
        played instead of sampled ones.

        Returns listener (B, samples, T, D), speaker (B, T, D) reconstruction R^s,
        mu and logvar (B, samples, windows, d) of the CIE distribution of each window (or
        logits (B, samples, windows, G, K) for a categorical latent) and, with a target,
        q_mu and q_logvar (q_logits) of the window posteriors and style_mu, style_logvar
        (B, samples, style_dim) of the style posterior; with `events`, event_logits
        (B, samples, T, E) of the onsets.
        """
        config = self.config
        if target is not None and not config.posterior:
            raise ValueError("a target needs a model with posterior=True (recognition networks)")
        batch, frames = visual.shape[:2]
        w = config.window
        face, speech = self.encode_speaker(visual, audio, visual_valid)
        padded = face.shape[1]  # T padded to whole windows, as encode_speaker pads it

        state = self.new_listener_state(online=False)
        self.remember_speaker(state, face, speech)
        rows = batch * samples
        extra = {}
        if target is not None:  # (B, T, D) -> (B samples, padded + w, D): one window ahead
            target = _pad_time(target, padded + w).repeat_interleave(samples, 0)
            if recognised is not None:
                recognised = recognised.to(face.device).repeat_interleave(samples, 0)
                extra["recognised"] = recognised.view(batch, samples)
        if config.style_dim:
            style = None
            if not deterministic:
                style = torch.randn(rows, config.style_dim, generator=generator).to(face.device)
            if target is not None:
                mean, log_variance = self.posterior.style(
                    target[:, :padded], face.repeat_interleave(samples, 0)
                )
                extra["style_mu"] = mean.view(batch, samples, -1)
                extra["style_logvar"] = log_variance.view(batch, samples, -1)
                style = mean if style is None else mean + (0.5 * log_variance).exp() * style
                if recognised is not None:
                    style = torch.where(recognised[:, None], style, 0.0)
            elif style is None:
                style = face.new_zeros(rows, config.style_dim)  # the prior's mean
            self.start_session(state, style)
        if not config.events:
            onsets = None  # only a model with events plays onsets
        elif onsets is not None:
            onsets = _pad_time(onsets.to(face), padded).repeat_interleave(samples, 0)
        windows = []
        for index in range(padded // w):
            noise = None if deterministic else self.window_noise(rows, generator, face.device)
            ahead = None if target is None else target[:, index * w : (index + 2) * w]
            played = None if onsets is None else onsets[:, index * w : (index + 1) * w]
            windows.append(self.generate_window(state, rows, noise, ahead, recognised, played))
        listener = torch.cat([window.reactions for window in windows], 1)[:, :frames]
        if config.events:
            logits = torch.cat([window.event_logits for window in windows], 1)[:, :frames]
            extra["event_logits"] = logits.view(batch, samples, frames, -1)

        def per_window(values) -> torch.Tensor:
            return torch.stack(values, 1).view(batch, samples, len(windows), -1)

        names = ("logits",) if config.categorical else ("mu", "logvar")
        for index, name in enumerate(names):
            extra[name] = per_window([window.prior[index] for window in windows])
            if target is not None:
                extra["q_" + name] = per_window([window.posterior[index] for window in windows])
        if config.categorical:  # (..., G K) -> (..., G, K)
            for name in ("logits", "q_logits"):
                if name in extra:
                    extra[name] = extra[name].unflatten(-1, (-1, config.latent_classes))
        return {
            "listener": listener.view(batch, samples, frames, -1),
            "speaker": self.speaker.reconstruct(face[:, :frames]),
            **extra,
        }

    def _checked_inputs(self, visual, audio, visual_valid):
        config = self.config
        batch, frames = visual.shape[:2]
        if config.visual_encoder == LANDMARK_ENCODER and (
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
            expected, unit = k * frames, "audio feature steps"
            if audio.ndim != 3 or audio.shape[2] != config.audio_dim:
                raise ValueError(
                    f"audio must be audio features (B, {k}T, audio_dim={config.audio_dim}), "
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
