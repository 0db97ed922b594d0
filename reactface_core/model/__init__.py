"""The ReactFace model (Luo et al., Sec. 4): one small module per idea of the paper.

- config: `ReactFaceConfig` (sizes, w, p, k, momentum, context, face model, encoders)
- alignment_bias: `AlignmentBias`, Eq. 11
- attention: biased multi-head attention (Eq. 10) with key/value caches
- encoders: causal speaker encoders (landmarks, pixels, log-mel and prosody, wav2vec 2.0)
- speaker: speaker behaviour encoding, face-speech alignment, reconstruction head
- interaction: VIM and MIM blocks, Eq. 8-10
- cie: conditional interaction encoder (mu/sigma tokens), Sec. 4.2
- latent: latent momentum and interpolation, Eq. 3
- sampling_decoder: sinusoidal positions (Eq. 4) and the sampling decoder
- listener: synchroniser shared by past interaction encoder and reaction decoder
- events: blinks and nods as sampled onsets with learnt shapes (beyond the paper)
- reactface: `ReactFace`, tying them together
"""

from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.reactface import ReactFace

__all__ = ["ReactFace", "ReactFaceConfig"]
