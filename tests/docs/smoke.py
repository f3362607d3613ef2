"""Smoke sizes for the README's commands, and the inputs they name.

`smoke(tokens)` rewrites a `genforge` command line by rule: step counts, sample counts, image
sizes and network widths become tiny (as tests/cli/conftest.py's TINY does), everything else
stays as written. `INPUTS` builds each file or folder a README command reads (`./my_images`,
`transactions.csv`, a tiny local transformers model, ...) the first time a command names it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .markdown import Invocation, parse

# ---------------------------------------------------------------------------------------
# Size rules
# ---------------------------------------------------------------------------------------

IMG8 = {"--image-size": "8", "--batch-size": "8"}
DCGAN = {"ngf": "8", "ndf": "8", "latent_dim": "8"}
UNET = {"block_out_channels": "[8,16]", "norm_num_groups": "4", "preview_steps": "2"}
TEXT = {"--context": "32", "--batch-size": "4"}
AUDIO = {"--sample-rate": "4000", "--seconds": "0.25", "--batch-size": "4"}
VIDEO = {"--image-size": "8", "--frames": "4", "--batch-size": "4"}
VDM = {"block_out_channels": "[8,16]", "preview_steps": "2", "num_train_timesteps": "50"}

# model -> (CLI options forced to these values, config keys given with --set)
TRAIN: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "gan": (IMG8, {"latent_dim": "8", "g_hidden": "[16]", "d_hidden": "[16]"}),
    "dcgan": (IMG8, DCGAN),
    "cgan": (IMG8, DCGAN),
    "wgan-gp": (IMG8, DCGAN),
    "hinge-sn": (IMG8, DCGAN),
    "attrgan": (
        {"--image-size": "16", "--batch-size": "8"},
        {"ngf": "4", "ndf": "4", "latent_dim": "8"},
    ),
    "vae": ({**IMG8, "--latent-dim": "8"}, {"width": "8"}),
    "cvae": ({**IMG8, "--latent-dim": "8"}, {"width": "8"}),
    "ddpm": (IMG8, UNET),
    "cddpm": (IMG8, UNET),
    "t2i": (IMG8, {**UNET, "text_dim": "16"}),
    "sr": ({"--image-size": "16", "--batch-size": "8"}, UNET),  # 16 px: --scale 4 gives 4 px in
    "cyclegan": ({"--image-size": "8", "--batch-size": "4"}, {"width": "8", "n_res": "1"}),
    "pix2pix": ({"--image-size": "8", "--batch-size": "4"}, {"width": "8"}),
    "gpt": ({**TEXT, "--size": "tiny"}, {"n_layer": "1", "n_head": "2", "n_embd": "16"}),
    "lstm": (TEXT, {"n_layer": "1", "n_embd": "16"}),
    "ngram": ({}, {}),
    "ctgan": (
        {"--batch-size": "10"},
        {"latent_dim": "8", "generator_dim": "[16]", "critic_dim": "[16]", "pac": "2"},
    ),
    "tvae": ({"--batch-size": "10"}, {"latent_dim": "4", "hidden": "[16]"}),
    "copula": ({"--batch-size": "10"}, {}),
    "wavegan": (AUDIO, {"model_size": "4", "latent_dim": "8", "n_critic": "1"}),
    "cwavegan": (AUDIO, {"model_size": "4", "latent_dim": "8", "n_critic": "1"}),
    "specvae": ({**AUDIO, "--batch-size": "8"}, {"size": "16", "width": "4", "latent_dim": "4"}),
    "seq2seq": ({"--batch-size": "8"}, {"size": "micro"}),
    "gru-seq2seq": ({"--batch-size": "8"}, {"hidden": "16", "emb_dim": "8"}),
    "vdm": (VIDEO, VDM),
    "cvdm": (VIDEO, VDM),
    "mocogan": (VIDEO, {"width": "4", "content_dim": "8", "motion_dim": "4", "noise_dim": "4"}),
    "cmocogan": (VIDEO, {"width": "4", "content_dim": "8", "motion_dim": "4", "noise_dim": "4"}),
    # half the images held out: enough real ones (8) to calibrate the threshold on
    "detector": (IMG8, {"width": "4", "val_fraction": "0.5"}),
    "lora": ({"--batch-size": "1"}, {"rank": "2", "sample_steps": "2"}),  # the pipeline's size
}

# command -> options forced to these values (added when absent)
FORCE: dict[str, dict[str, str]] = {
    "eval": {"--n": "10"},
    "chat": {"--max-new-tokens": "8"},
    "generate image": {"--n": "2", "--steps": "2"},
    "generate character": {"--n": "2"},
    "restore": {"--steps": "2", "--jump-length": "1", "--resample": "1"},
    "upscale": {"--steps": "2"},
    "predict": {"--steps": "2"},
    "interpolate": {"--steps": "2"},
    "recipe finance-report": {"--stress-steps": "2", "--drafts": "1", "--stress-samples": "100"},
    "recipe medical-augment": {"--target-per-class": "6", "--image-size": "16", "--steps": "2",
                               "--batch-size": "8", "--seeds": "2", "--classifier-steps": "2"},
    "recipe characters": {"--steps": "2", "--batch-size": "8", "--width": "4", "--d-width": "4",
                          "--classifier-steps": "2", "--samples-per-combo": "1",
                          "--max-combos": "4"},
}  # fmt: skip
# command -> options shrunk only where the command gives them
SHRINK: dict[str, dict[str, str]] = {
    "train": {"--epochs": "1", "--vocab": "300", "--eval-every": "1"},
    "sample": {"--n": "4", "--steps": "2", "--best-of": "2", "--interpolate": "2",
               "--frames": "4"},
    "generate text": {"--n": "2", "--num-beams": "2", "--max-length": "24"},
    "review": {"--n": "24"},  # with the verdicts test_readme_commands types: gate fit's minimum
    "recipe medical-augment": {"--real-per-class": "4"},
    "predict": {"--context": "2"},  # smoke video runs have 4 frames
}  # fmt: skip
# config keys of the generator a recipe trains
RECIPE_SETS = {"recipe medical-augment": UNET}


def force(args: list[str], option: str, value: str) -> None:
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]


def force_set(args: list[str], key: str, value: str) -> None:
    for i, a in enumerate(args[:-1]):
        if a == "--set" and args[i + 1].split("=", 1)[0] == key:
            args[i + 1] = f"{key}={value}"
            return
    args += ["--set", f"{key}={value}"]


def smoke(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """The `genforge` arguments (without `genforge`) of `tokens`, at smoke size."""
    args = list(tokens[1:])
    inv = parse(args)
    for option, value in SHRINK.get(inv.name, {}).items():
        if option in args:
            force(args, option, value)
    for option, value in FORCE.get(inv.name, {}).items():
        force(args, option, value)
    for key, value in RECIPE_SETS.get(inv.name, {}).items():
        force_set(args, key, value)
    if inv.name == "train":
        _smoke_train(args, inv)
    if inv.name == "generate text" and "--max-length" not in args:
        force(args, "--max-new-tokens", "8")
    return args


def _smoke_train(args: list[str], inv: Invocation) -> None:
    if inv.params["resume"]:
        if inv.params.get("feedback"):  # a feedback round: two steps past wherever the run is
            force_set(args, "feedback_steps", "2")
            return
        force(args, "--steps", "4")  # two more than the tiny run it resumes
        return
    model = inv.params["model"]
    options, sets = TRAIN[model]
    if model == "gpt" and inv.params["init"]:  # a pretrained model keeps its own shape
        options, sets = TEXT, {}
    if "--epochs" not in args:
        force(args, "--steps", "2")
    for option, value in options.items():
        force(args, option, value)
    for key, value in sets.items():
        force_set(args, key, value)


KEY_OF = {"--context": "block_size", "--vocab": "vocab_size"}  # CLI option -> config key


def python_train_options(model: str) -> dict[str, object]:
    """`genforge.train(...)` keyword arguments of the same tiny sizes as `smoke`."""
    import yaml

    options, sets = TRAIN[model]
    kwargs: dict[str, object] = {
        KEY_OF.get(o, o.lstrip("-").replace("-", "_")): yaml.safe_load(v)
        for o, v in options.items()
    }
    kwargs.update({k: yaml.safe_load(v) for k, v in sets.items()})
    return kwargs


# ---------------------------------------------------------------------------------------
# Runs the commands read and write
# ---------------------------------------------------------------------------------------


def run_name(value: str) -> str | None:
    """The run a RUN/--model/--run value names, or None for a path to something else."""
    if value.startswith("runs/") and value.count("/") == 1:
        return value.removeprefix("runs/")
    if "/" in value or value.startswith("."):
        return None
    return value


def runs_read(inv: Invocation) -> list[str]:
    """The runs a command needs to exist before it runs."""
    p = inv.params
    values = [p.get("run"), p.get("resume") if inv.name == "train" else None, *p.get("runs", ())]
    if inv.name in {"generate image", "generate character", "watermark detect-text"}:
        values.append(p.get("model"))
    if inv.name == "generate image":  # a LoRA run's adapters
        values.append(p.get("lora"))
    if inv.name == "train":  # a detector's generated images may come from runs
        values += [p.get("fake"), p.get("eval_fake")]
    if inv.name == "detect":
        values += [p.get("detector"), p.get("model")]
    return [n for v in values if isinstance(v, str) and (n := run_name(v))]


def run_written(inv: Invocation) -> str | None:
    """The run a `genforge train` command creates (its --name, else <data>-<model>)."""
    p = inv.params
    if inv.name != "train" or p["resume"]:
        return None
    return p["name"] or f"{Path(p['data'].rstrip('/')).stem}-{p['model']}"


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def _pngs(folder: Path, count: int, size: int = 8, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
            folder / f"img{i:03d}.png"
        )
    return folder


def _png(path: Path, size: int, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def _mask(path: Path) -> Path:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255  # light: the pixels to fill
    Image.fromarray(mask, "L").save(path)
    return path


def _scans(root: Path) -> Path:
    for k, label in enumerate(["healthy", "lesion"]):
        _pngs(root / label, 6, size=16, mode="L", seed=k)
    return root


def _corpus(root: Path) -> Path:
    from textkit import make_folder

    return make_folder(root, n=12)


def _tickets(path: Path) -> Path:
    rows = [{"text": "Order 1 arrived late, mail me at ann@example.com", "id": 1},
            {"text": "Where is my parcel? Call +1 202 555 0100", "id": 2},
            {"text": "Where is my parcel? Call +1 202 555 0100", "id": 3}]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _intents(path: Path) -> Path:
    rows = [{"text": "where is my order", "intent": "track", "answer": "It is on its way."},
            {"text": "track my parcel", "intent": "track", "answer": "It is on its way."},
            {"text": "hello there", "intent": "greet"}, {"text": "hi", "intent": "greet"}]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _local_gpt(root: Path) -> Path:
    """A tiny random GPT-2 and its BPE tokenizer, saved as a downloaded model would be."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    from textkit import make_docs

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(make_docs(12), vocab_size=300, special_tokens=["<|endoftext|>"])
    tok = GPT2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                            bos_token="<|endoftext|>", unk_token="<|endoftext|>")  # fmt: skip
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def _clip(root: Path) -> Path:
    from hf_tiny import save_tiny_clip

    return save_tiny_clip(root)


def _sd_pipeline(root: Path) -> Path:
    from hf_tiny import save_tiny_sd_pipeline

    pipe = save_tiny_sd_pipeline(root.with_name(root.name + "-parts"))
    pipe.rename(root)
    return root


def _vits(root: Path) -> Path:
    from hf_tiny import save_tiny_vits

    return save_tiny_vits(root)


def _clips(root: Path) -> Path:
    import soundfile as sf

    root.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(4000) / 8000
    for i in range(6):
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t) + rng.normal(0, 0.01, t.size)
        sf.write(root / f"clip{i}.wav", tone.astype(np.float32), 8000)
    return root


def _videos(root: Path) -> Path:
    from videokit import clip_folder

    return clip_folder(root)


def _video(path: Path) -> Path:
    from videokit import moving_square, write_video

    return write_video(path, moving_square(12, 16))


def _transactions(path: Path) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 40
    places = [("FR", "Paris"), ("FR", "Lyon"), ("DE", "Berlin")]
    country, city = zip(*(places[i] for i in rng.integers(0, 3, n)), strict=True)
    pd.DataFrame({
        "id": np.arange(n), "age": rng.integers(18, 99, n), "amount": rng.gamma(2, 10, n).round(2),
        "country": country, "city": city, "day": pd.date_range("2024-01-01", periods=n),
        "fraud": rng.choice(["no", "yes"], n),
    }).to_csv(path, index=False)  # fmt: skip
    return path


def _prices(path: Path) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    days = pd.bdate_range("2023-01-02", periods=260)
    frames = [
        pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "ticker": ticker,
                      "close": (100 * np.exp(np.cumsum(rng.normal(0, 0.01, days.size)))).round(2)})
        for ticker in ("ACME", "BETA")
    ]  # fmt: skip
    pd.concat(frames).to_csv(path, index=False)
    return path


def _fundamentals(path: Path) -> Path:
    path.write_text(
        "ticker,period,revenue,net_income,eps,book_value,shares,debt,equity\n"
        "ACME,2023,400,40,4.0,900,100,300,600\nACME,2024,500,50,5.0,1000,100,300,650\n"
    )
    return path


def _text(content: str) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_text(content, encoding="utf-8")
        return path

    return write


# name as a command writes it (without ./ and a trailing /) -> builder of that path
INPUTS: dict[str, Callable[[Path], Path]] = {
    "my_images": lambda p: _pngs(p, 16, size=12),
    "holdout": lambda p: _pngs(p, 12, size=12, seed=1),
    "damaged.png": lambda p: _png(p, 8),
    "noisy.png": lambda p: _png(p, 8, seed=1),
    "mask.png": _mask,
    "small.png": lambda p: _png(p, 4),
    "photos": lambda p: _pngs(p, 6),
    "paintings": lambda p: _pngs(p, 5, seed=1),
    "sketches": lambda p: _pngs(p, 6, mode="L", seed=2),
    "photo.png": lambda p: _png(p, 8),
    "sketch.png": lambda p: _png(p, 8, mode="L"),
    "samples.png": lambda p: _png(p, 8),
    "scans": _scans,
    "my-clip-text-encoder": _clip,
    "my-sd-pipeline": _sd_pipeline,
    "support_tickets.jsonl": _tickets,
    "corpus": _corpus,
    "prompts.txt": _text("The quick brown fox\nDear customer\n"),
    "intents.jsonl": _intents,
    "my-local-model": _local_gpt,
    "transactions.csv": _transactions,
    "clips": _clips,
    "videos": _videos,
    "in.mp4": _video,
    "mms-tts-eng": _vits,
    "prices.csv": _prices,
    "fin.csv": _fundamentals,
    "pairs.tsv": _text("".join(f"{w} {v}\tX{w} Y{v}\n" for w in "abcdefgh" for v in "ijklmn")),
    "in.txt": _text("a i\nb j\n"),
    "document.txt": _text("a i b j c k\nd l\n"),
    "their_photo.jpg": lambda p: _png(p, 16, seed=3),
    "downloads": lambda p: _pngs(p, 3, size=12, seed=4),
    "dog-photos": lambda p: _pngs(p, 4, size=12, seed=5),
}


def make_inputs(root: Path, tokens: tuple[str, ...] | list[str]) -> None:
    """Build, under `root`, every input of INPUTS that `tokens` names and that is not there."""
    for token in tokens:
        name = token.removeprefix("./").rstrip("/")
        if name in INPUTS and not (root / name).exists():
            INPUTS[name](root / name)
