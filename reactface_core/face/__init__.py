"""Faces: coefficient layouts, the canonical mesh and rigs, and renderers for face screens.

- `models`: named coefficient layouts (`arkit58` default, `faceverse58`, `flame56`).
- `mesh`: the 468-vertex MediaPipe-topology neutral face, built from installed packages.
- `rig`: procedural ARKit blendshapes and head pose on that mesh (`ArkitRig`).
- `scene`: the dressed face a renderer draws (eyes, mouth, teeth, hair); `expressions`.
- `render`: `make_renderer(face_model, backend)` -> `render(coefficients) -> frames`.
- `flame`, `faceverse`, `safe_pickle`: the other layouts and safe loading of their files.
- `video`, `gallery`: writing frames to .mp4/.gif/PNG and the README's contact sheet.
"""
