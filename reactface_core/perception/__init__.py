"""Speaker perception: what the model sees and hears of the person talking to the robot.

- `face_tracker`: camera frames -> raw MediaPipe face-mesh landmarks (contract 1);
- `landmarks`: raw landmarks -> camera- and identity-invariant speaker features against a
  running per-session neutral (`SpeakerFeatures`, contract 2);
- `audio`: audio files -> 16 kHz mono, causal 50 Hz log-mel and prosody, offline and streaming (contract 3);
- `wav2vec`: optional wav2vec 2.0 features from a local weights folder;
- `prepare`: cache landmarks and audio features for a REACT-layout dataset.
"""
