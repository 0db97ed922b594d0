"""The synthetic dyadic world: speakers, their speech, the camera's view, listeners' reactions.

Modules: `config` (`WorldConfig`: every range and size, and the simulated detector),
`speaker` (persons, emotion scripts, face coefficients), `speech` (espeak-ng phrases on
the timeline, timing and mouth read from the audio, the room), `stage` (per-clip camera,
framing, lighting and events; the landmark fast path), `camera` (pinhole projection and
detector noise), `video` (the same stage rendered to mp4), `listener` (reaction
policies), `synth` (`speaker_side`, `listener_reaction`, the `reactface synth`
writer), `signals` (shared signal builders).
"""
