"""Write the embedded `digits` as two image folders for image-to-image demos.

    python scripts/make_style_pairs.py OUT [--style amber|ink] [--size 32] [--n 1797]

OUT/plain/00000.png  ...  the digit as embedded: gray, white strokes on black
OUT/<style>/00000.png ... the same digit in another style, strokes thickened by a 3x3 dilation:
    amber  glowing amber strokes on black (RGB)
    ink    dark blue ink on cream paper (RGB): light and dark swap as well

The style is deterministic and file names match, so the folders serve both unpaired training
(`genforge train cyclegan --domain-a OUT/plain --domain-b OUT/amber`; the pairing is never
shown to it) and paired training or evaluation (`genforge train pix2pix ...`, and the paired
PSNR/SSIM of `genforge eval` on a cyclegan run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genforge.data import load_images

# style -> (background colour, stroke colour), RGB
STYLES = {
    "amber": ((0, 0, 0), (255, 176, 40)),
    "ink": ((244, 236, 214), (24, 40, 120)),  # cream paper, dark blue ink
}


def styled(x: torch.Tensor, style: str) -> np.ndarray:
    """Gray digits (N, 1, H, W) in [-1, 1] -> uint8 RGB (N, H, W, 3) in `style`."""
    background, stroke = (np.array(c, dtype=np.float32) for c in STYLES[style])
    thick = F.max_pool2d(x, 3, stride=1, padding=1)  # grey dilation: strokes one pixel wider
    t = ((thick + 1) / 2).clamp(0, 1)[:, 0, :, :, None].numpy()  # (N, H, W, 1) stroke amount
    return (background * (1 - t) + stroke * t).round().astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--style", choices=sorted(STYLES), default="amber")
    p.add_argument("--size", type=int, default=32, help="image size (8, 16, 32 or 64)")
    p.add_argument("--n", type=int, default=1797, help="how many digits (the first n)")
    args = p.parse_args()
    x = load_images("digits", image_size=args.size, seed=0).images[: args.n]  # (N, 1, S, S)
    plain = ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    other = styled(x, args.style)
    for name in ("plain", args.style):
        (args.out / name).mkdir(parents=True, exist_ok=True)
    for i in range(len(x)):
        Image.fromarray(plain[i], "L").save(args.out / "plain" / f"{i:05d}.png")
        Image.fromarray(other[i], "RGB").save(args.out / args.style / f"{i:05d}.png")
    print(f"wrote {len(x)} pairs to {args.out}/plain and {args.out}/{args.style} ({args.size} px)")


if __name__ == "__main__":
    main()
