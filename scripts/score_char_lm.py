"""Score character-level LMs on the same held-out text, one script for all of them.

Used by the "GPT against nanoGPT" benchmark (docs/benchmarks.md): a genforge text run and a
nanoGPT `out_dir` trained on the same corpus are scored on the corpus's last `--fraction`
(which neither trained on), in non-overlapping windows of `--window` characters: each window
is predicted from the previous window's last character onwards, every character once. The
same number of characters from the corpus's start, which both trained on, gives the train loss
scored the same way (`train_nats_per_char`).

    python scripts/score_char_lm.py --text input.txt --window 256 \
        --genforge runs/shakespeare-gpt --nanogpt out-shakespeare-char --nanogpt-src nanoGPT/

nanoGPT's own code is imported from the checkout given (`--nanogpt-src`), never copied; its
character vocabulary is rebuilt as its `prepare.py` builds it (every character of the corpus,
sorted), so no pickle is read. Prints one JSON line per model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


def windows(ids: list[int], window: int) -> torch.Tensor:
    """(N, window + 1) non-overlapping windows (consecutive ones share one boundary token)."""
    t = torch.tensor(ids, dtype=torch.long)
    return t.unfold(0, window + 1, window)


@torch.no_grad()
def mean_nll(logits_of, w: torch.Tensor, batch: int = 16) -> float:
    total, count = 0.0, 0
    for i in range(0, len(w), batch):
        x = w[i : i + batch]
        logits = logits_of(x[:, :-1]).float()
        total += float(F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="sum"))
        count += x[:, 1:].numel()
    return total / count


def score_genforge(run_dir: str, parts: dict[str, str], window: int) -> dict:
    import genforge
    from genforge.core.run import Run

    pipe = genforge.load(Run(Path(run_dir)))
    net = pipe.hf
    net.eval()
    out = {"model": "genforge", "run": run_dir}
    for part, text in parts.items():
        ids = pipe.tokenizer.encode(text)
        if len(ids) != len(text):
            raise SystemExit(f"{run_dir}: the tokenizer is not one token per character")
        out[part] = mean_nll(lambda x: pipe.model.logits(net, x), windows(ids, window))
    return out


def score_nanogpt(out_dir: str, src: str, text: str, parts: dict[str, str], window: int) -> dict:
    sys.path.insert(0, str(Path(src).resolve()))
    from model import GPT, GPTConfig  # nanoGPT's model.py

    ckpt = torch.load(Path(out_dir) / "ckpt.pt", map_location="cpu", weights_only=True)
    model = GPT(GPTConfig(**ckpt["model_args"]))
    sd = {k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()}
    model.load_state_dict(sd)
    model.eval()
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}

    def logits_of(x: torch.Tensor) -> torch.Tensor:
        # nanoGPT's forward returns logits for every position only when given targets
        logits, _ = model(x, targets=x)
        return logits

    out = {"model": "nanoGPT", "out_dir": out_dir, "iter": ckpt.get("iter_num")}
    for part, chars in parts.items():
        out[part] = mean_nll(logits_of, windows([stoi[c] for c in chars], window))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", required=True, help="the whole corpus (one UTF-8 file)")
    ap.add_argument("--fraction", type=float, default=0.1, help="held-out tail share")
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--genforge", action="append", default=[], help="a genforge run folder")
    ap.add_argument("--nanogpt", action="append", default=[], help="a nanoGPT out_dir")
    ap.add_argument("--nanogpt-src", help="the nanoGPT checkout (for model.py)")
    a = ap.parse_args()
    text = Path(a.text).read_text(encoding="utf-8")
    held = text[int(len(text) * (1 - a.fraction)) :]
    # the same number of characters from the start, which both models trained on
    parts = {"nats_per_char": held, "train_nats_per_char": text[: len(held)]}
    torch.manual_seed(0)
    scored = [score_genforge(run, parts, a.window) for run in a.genforge]
    scored += [score_nanogpt(out, a.nanogpt_src, text, parts, a.window) for out in a.nanogpt]
    for r in scored:
        print(json.dumps({**r, "bits_per_char": r["nats_per_char"] / math.log(2),
                          "chars": len(held)}))  # fmt: skip


if __name__ == "__main__":
    main()
