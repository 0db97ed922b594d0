"""The synthetic dyadic world: speakers, their speech, listeners' appropriate reactions.

Modules: `speaker` (persons, latent state scripts, face coefficients), `speech` (audio),
`listener` (reaction policies), `camera` (landmark projection and detector noise),
`generate` (the `reactface synth` writer), `signals` (shared signal builders).
"""
