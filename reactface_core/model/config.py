"""ReactFace hyper-parameters as one dataclass, stored in every checkpoint.

Defaults are sized for real time on a 2-core CPU (about 0.3 M parameters): a 64-wide
model with 4 heads and one layer per stage is enough for the synthetic world and keeps
both training (batched offline forward) and online generation (a few ms per window) cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from reactface_core.face.models import DEFAULT_FACE_MODEL, get_face_model

# What the weights of a ReactFace mean: bumped whenever the same weights would compute
# something else, so checkpoints of the older code refuse to load (`checkpoint.py`).
MODEL_VERSION = 1
LANDMARK_ENCODER = "landmarks"  # the speaker's face seen as per-frame landmark features
VISUAL_ENCODERS = (LANDMARK_ENCODER, "pixels")
AUDIO_ENCODERS = ("logmel", "wav2vec2")
SD_POSITIONS = ("absolute", "window")


@dataclass
class ReactFaceConfig:
    # what goes in and out
    face_model: str = DEFAULT_FACE_MODEL  # layout of listener/speaker coefficients (D columns)
    visual_encoder: str = LANDMARK_ENCODER  # per-frame features (B, T, visual_dim)
    visual_dim: int = 426  # perception's VISUAL_FEATURE_DIM (not imported here)
    image_size: int = 224  # "pixels": RGB frames (B, T, 3, image_size, image_size)
    audio_encoder: str = "logmel"  # "logmel": (B, k*T, audio_dim) features at 50 Hz
    audio_dim: int = 70  # perception's AUDIO_FEATURE_DIM (not imported here)
    wav2vec2_path: str | None = None  # "wav2vec2": local folder for from_pretrained
    wav2vec2_context: int = 100  # audio steps (20 ms each) of history per wav2vec2 call
    freeze_wav2vec2: bool = True
    # model size
    dim: int = 64  # feature / latent width d
    heads: int = 4
    mlp_ratio: int = 4
    encoder_layers: int = 1  # causal self-attention layers of each speaker encoder
    interaction_layers: int = 1  # (VIM, MIM) pairs of the synchroniser (Eq. 8-9)
    cie_layers: int = 1  # layers of the conditional interaction encoder
    dropout: float = 0.1
    # the paper's knobs
    window: int = 8  # w: frames generated per step (320 ms at 25 fps)
    period: int = 25  # p of Eq. 11: frames treated as one step by the alignment bias
    audio_ratio: int = 2  # k of Eq. 11: audio steps per video frame
    momentum: float = 0.5  # alpha of the latent momentum (Sec. 4.2)
    context: int | None = 250  # frames any attention looks back (10 s); None: unbounded
    sd_positions: str = "absolute"  # Eq. 4 time steps: "absolute" t or position in window
    # beyond the paper (0 / False: the published model)
    style_dim: int = 0  # per-session style latent s ~ N(0, I), drawn once per interaction
    posterior: bool = False  # recognition network q(z*_t | listener), q(s | listener) (CVAE)
    latent_groups: int = 0  # > 0: z*_t is this many categorical variables, not N(mu, sigma)
    latent_classes: int = 16  # classes of each categorical variable
    events: bool = False  # blinks and nods as sampled onsets with learnt shapes (events.py)
    event_frames: int = 16  # L: frames of each event's shape (a blink, one nod cycle)
    follow: bool = False  # a learnt causal filter of the speaker added to R^ (follow.py)
    follow_frames: int = 50  # L: frames that filter reads (2 s)
    idle: bool = False  # idle head sway as smooth noise (idle.py), set by `reactface calibrate`

    def __post_init__(self) -> None:
        get_face_model(self.face_model)
        _choice("visual_encoder", self.visual_encoder, VISUAL_ENCODERS)
        _choice("audio_encoder", self.audio_encoder, AUDIO_ENCODERS)
        _choice("sd_positions", self.sd_positions, SD_POSITIONS)
        if self.audio_encoder == "wav2vec2" and not self.wav2vec2_path:
            raise ValueError("audio_encoder 'wav2vec2' needs wav2vec2_path (a local folder)")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim={self.dim} must split into {self.heads} even-width heads")
        if self.style_dim < 0 or self.latent_groups < 0:
            raise ValueError(
                f"style_dim and latent_groups must be >= 0, got {self.style_dim}, "
                f"{self.latent_groups}"
            )
        if self.latent_groups and self.latent_classes < 2:
            raise ValueError(f"latent_classes must be >= 2, got {self.latent_classes}")
        if self.follow_frames < 1:
            raise ValueError(f"follow_frames must be >= 1, got {self.follow_frames}")
        if self.event_frames < 2:
            raise ValueError(f"event_frames must be >= 2, got {self.event_frames}")
        for name in ("window", "period", "audio_ratio", "heads", "visual_dim", "audio_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.context is not None and self.context < 1:
            raise ValueError(f"context must be >= 1 frame or None, got {self.context}")

    @property
    def categorical(self) -> bool:
        return self.latent_groups > 0

    @property
    def face_dim(self) -> int:
        return get_face_model(self.face_model).dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ReactFaceConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ReactFaceConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
