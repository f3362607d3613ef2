"""Teach a pretrained text-to-image model a concept it never saw, with LoRA from 30 images.

Used by the "LoRA: teaching a left-out concept" benchmark (docs/benchmarks.md). No pretrained
weights can be downloaded here, so the "pretrained" model is built first:
1. scikit-learn's 1797 8x8 digits are split in two halves by a fixed permutation. Half A trains
   the judge, an RBF SVC (independent of genforge, never shown a generated image). Half B is
   the generator's data.
2. **pretrain**: `genforge train t2i` on half B *without the sevens* (captions "a handwritten
   zero" ...), with a random word-level CLIP text encoder (the prompt vocabulary includes
   "seven", so the prompt exists but the model never saw its images) fine-tuned with the UNet.
   Its export (`model/diffusers`: UNet2DConditionModel, scheduler, text encoder) is the base.
3. **LoRA**: `genforge train t2i --init BASE --text-encoder BASE/text_encoder --set
   finetune=lora` on 30 sevens of half B, captioned "a handwritten seven", once per seed.
4. The judge reads `--n` samples per prompt ("a handwritten zero" ... "nine") at LoRA scales
   0 (= the base, exactly), 0.5 and 1: the share of "seven" samples read as 7, and the accuracy
   on the nine old digits (forgetting).
Prints one JSON object and writes it to WORK/result.json.

    OMP_NUM_THREADS=1 python scripts/bench_concept_lora.py --work /tmp/concept --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LEFT_OUT = 7


def digits_halves(seed: int = 0):
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    a, b = order[: len(order) // 2], order[len(order) // 2 :]
    return (d.data[a], d.target[a]), (d.images[b], d.target[b])


def judge(half_a):
    from sklearn.svm import SVC

    x, y = half_a
    clf = SVC(C=10, gamma=0.001, random_state=0).fit(x, y)

    def read(images: torch.Tensor) -> np.ndarray:
        pix = torch.nn.functional.adaptive_avg_pool2d((images[:, :1] + 1) / 2, 8)
        return clf.predict(pix.reshape(len(pix), -1).numpy() * 16)

    return read


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray, keep) -> Path:
    """PNG per image in class folders, with captions.jsonl ("a handwritten seven")."""
    from PIL import Image

    lines = []
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        if not keep(int(y), i):
            continue
        folder = root / WORDS[y]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).round().astype(np.uint8), "L").save(folder / f"{i}.png")
        lines.append({"file": f"{WORDS[y]}/{i}.png", "caption": f"a handwritten {WORDS[y]}"})
    (root / "captions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def save_clip(folder: Path, hidden: int) -> Path:
    """A random CLIP text model over a word-level vocabulary (specials + these words)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", "a",
                                         "handwritten", *WORDS])}  # fmt: skip
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 3)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<bos>", eos_token="<eos>",
                                   model_max_length=16)  # fmt: skip
    torch.manual_seed(0)
    cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3)  # fmt: skip
    CLIPTextModel(cfg).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def genforge(*args) -> float:
    """Run the genforge CLI; its wall time in seconds."""
    cmd = [sys.executable, "-c", "from genforge.cli.main import app; app()", *map(str, args)]
    print("$ genforge " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def score(run: Path, read, n: int, scale: float | None, steps: int, guidance: float) -> dict:
    """Per prompt: the share of n samples the judge reads as that prompt's digit."""
    from genforge.generate.diffusion import DiffusionPipeline

    pipe = DiffusionPipeline(run, device="cpu", steps=steps, guidance=guidance,
                             **({} if scale is None else {"lora_scale": scale}))  # fmt: skip
    out = {}
    for d, w in enumerate(WORDS):
        images = pipe.sample_prompt(f"a handwritten {w}", n, seed=1000 + d)
        out[w] = float((read(images) == d).mean())
    old = [out[w] for d, w in enumerate(WORDS) if d != LEFT_OUT]
    return {"seven": out["seven"], "old_digits_mean": float(np.mean(old)), "per_prompt": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pretrain-steps", type=int, default=1200)
    ap.add_argument("--lora-steps", type=int, default=300)
    ap.add_argument("--lora-rank", type=int, default=4)
    ap.add_argument("--lora-lr", type=float, default=1e-3)
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--n", type=int, default=100, help="samples judged per prompt and scale")
    ap.add_argument("--sample-steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=3.0)
    a = ap.parse_args()
    work, runs = a.work, a.work / "runs"
    half_a, (images, labels) = digits_halves()
    read = judge(half_a)
    result: dict = {"judge": "RBF SVC on half A of sklearn digits (899 images)",
                    "config": vars(a) | {"work": str(work)}}  # fmt: skip

    base = runs / "base"
    if not (base / "model" / "diffusers").is_dir():
        clip = save_clip(work / "clip64", hidden=64)
        data = write_folder(work / "no-sevens", images, labels, lambda y, i: y != LEFT_OUT)
        result["pretrain_s"] = genforge(
            "train", "t2i", "--data", data, "--image-size", "8", "--batch-size", "64", "--lr",
            "1e-3", "--steps", a.pretrain_steps, "--set", "block_out_channels=[32,64]", "--set",
            "ema_decay=0.995", "--set", "warmup_steps=50", "--set", "channels_last=false",
            "--text-encoder", clip, "--train-text-encoder", "--name", "base", "--runs-dir", runs,
        )  # fmt: skip
    export = base / "model" / "diffusers"
    result["base"] = score(base, read, a.n, None, a.sample_steps, a.guidance)
    sevens = np.flatnonzero(labels == LEFT_OUT)[: a.instances]
    data = write_folder(work / "sevens", images, labels, lambda y, i: i in set(sevens))
    result["lora"] = []
    for seed in range(a.seeds):
        name = f"lora-s{seed}"
        wall = genforge(
            "train", "t2i", "--data", data, "--image-size", "8", "--batch-size", "16", "--lr",
            a.lora_lr, "--steps", a.lora_steps, "--set", f"lora_r={a.lora_rank}", "--set",
            "finetune=lora", "--set", "ema_decay=0.995", "--set", "warmup_steps=20", "--set",
            "channels_last=false", "--init", export, "--text-encoder", export / "text_encoder",
            "--seed", seed, "--name", name, "--runs-dir", runs,
        )  # fmt: skip
        row = {"seed": seed, "train_s": wall}
        for scale in (0.0, 0.5, 1.0):
            row[f"scale {scale:g}"] = score(runs / name, read, a.n, scale, a.sample_steps,
                                            a.guidance)  # fmt: skip
        result["lora"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    lora_file = runs / "lora-s0" / "model" / "diffusers" / "unet_lora.safetensors"
    unet_file = next((export / "unet").glob("*.safetensors"))
    result["sizes_bytes"] = {"lora": lora_file.stat().st_size, "unet": unet_file.stat().st_size}
    result["threads"] = os.environ.get("OMP_NUM_THREADS")
    (work / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
