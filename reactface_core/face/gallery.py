"""A labelled contact sheet of rendered expressions (the README's gallery image)."""

from __future__ import annotations

import numpy as np

from reactface_core.face.expressions import presets

GALLERY = (
    "neutral", "smile", "happy", "surprise",
    "sad", "concern", "angry", "disgust",
    "talk", "pucker", "blink", "wink",
    "look aside", "tongue out", "turn left", "turn right",
)  # fmt: skip


def gallery_image(renderer, names=GALLERY, columns: int = 4) -> np.ndarray:
    """Render each named arkit58 preset and tile them with labels: (H, W, 3) uint8."""
    from PIL import Image, ImageDraw, ImageFont

    frames = renderer.render(presets(names))
    height, width = frames.shape[1:3]
    label = max(14, height // 11)
    rows = -(-len(names) // columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + label)), renderer.config.background)
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=int(label * 0.75))
    except TypeError:  # Pillow < 10.1 has one bitmap size
        font = ImageFont.load_default()
    for i, (name, frame) in enumerate(zip(names, frames, strict=True)):
        x, y = (i % columns) * width, (i // columns) * (height + label)
        sheet.paste(Image.fromarray(frame), (x, y))
        draw.text(
            (x + width // 2, y + height + label // 2),
            name,
            fill=(235, 235, 240),
            font=font,
            anchor="mm",
        )
    return np.asarray(sheet)
