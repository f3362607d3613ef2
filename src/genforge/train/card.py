"""The model card: README.md in the Run with data summary, config, loss curves and samples."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from genforge.core.io import write_text, write_with
from genforge.core.run import Run
from genforge.data.governance import card_lines
from genforge.data.modalities import Modality
from genforge.models import get_entry, modality_of


def plot_losses(run: Run) -> Path | None:
    """Loss curves from metrics.jsonl -> samples/losses.png (None when nothing was logged)."""
    records = run.metrics()
    keys = sorted({k for r in records for k in r if k.startswith("loss")})
    if not records or not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    for k in keys:
        pts = [(r["step"], r[k]) for r in records if k in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=k, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{run.name}: training losses")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = run.samples_dir / "losses.png"
    params = {"run": run.name, "kind": "loss-curves", "step": records[-1]["step"]}
    meta = {"genforge": json.dumps(params, sort_keys=True)}  # like every genforge PNG
    write_with(out, lambda tmp: fig.savefig(tmp, format="png", metadata=meta))
    plt.close(fig)
    return out


def write_model_card(run: Run) -> Path:
    """README.md of the run, in its modality's words (its data, units, samples, commands)."""
    cfg = run.read_config()
    report = json.loads(run.data_report_path.read_text()) if run.data_report_path.exists() else {}
    records = run.metrics()
    last = records[-1] if records else {}
    losses_png = plot_losses(run)
    modality = modality_of(cfg)
    task = get_entry(cfg["model"]).family.task
    lines = [
        f"# {run.name}",
        "",
        f"A **{cfg['model']}** model trained with genforge {cfg.get('genforge_version', '')} "
        f"on {_source(cfg['data'])} ({modality.describe(cfg)}).",
        "",
        "## Data",
        "",
        *modality.card_data(report),
        "",
        "## Training data",
        "",
        *card_lines(cfg.get("provenance"), report),
        "",
        "## Training",
        "",
        f"- steps: {last.get('step', 0)} of {cfg['train']['steps']}, batch size {cfg['train']['batch_size']}, "
        f"precision {cfg['train']['precision']}, seed {cfg['train']['seed']}",
    ]
    lines += _text_encoder_lines(run, cfg)
    lines += _init_lines(cfg)
    if last:
        finals = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.startswith("loss"))
        lines.append(f"- final losses: {finals}; throughput {_throughput(records, modality)}")
    lines += _detection_lines(run)
    lines += feedback_lines(cfg.get("feedback") or [])
    lines += ["", "## Samples", "", modality.card_samples(), ""]
    if losses_png:
        lines += ["## Loss curves", "", "![losses](samples/losses.png)", ""]
    lines += [
        "## Use",
        "",
        "```bash",
        *modality.card_usage(run.name, task),
        "```",
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(
            {k: cfg[k] for k in ("model", "data", "model_config", "train")}, sort_keys=False
        ).rstrip(),
        "```",
        "",
        "## Limits",
        "",
        *modality.card_limits(report),
        "",
    ]
    write_text(run.card_path, "\n".join(lines))
    return run.card_path


def _throughput(records: list[dict], modality: Modality) -> str:
    """The last logged throughput in the modality's unit ("1,234 tokens/s"); runs logged
    before units per modality have `images_per_s`, which counted training items."""
    for r in reversed(records):
        if f"{modality.unit}_per_s" in r:
            return f"{r[f'{modality.unit}_per_s']:,.0f} {modality.unit}/s"
        if "images_per_s" in r:
            return f"{r['images_per_s']:,.0f} {modality.item_name}/s"
    return "not logged"


def _init_lines(cfg: dict) -> list[str]:
    """Where a diffusion run's starting weights came from (--init; none for random ones)."""
    mc = cfg["model_config"]
    if not mc.get("init") or "init_sha256" not in mc:
        return []
    lines = [
        f"- initial UNet weights: `{mc['init']}` (safetensors sha256 `{mc['init_sha256']}`), "
        "not random; the architecture follows that folder's config"
    ]
    if mc.get("finetune") == "lora":
        targets = ", ".join(mc.get("lora_targets") or []) or "the family's default layers"
        alpha = mc.get("lora_alpha") or mc.get("lora_r")
        lines.append(
            f"- fine-tuned with LoRA adapters only (rank {mc.get('lora_r')}, alpha {alpha}, on "
            f"{targets}); the rest is frozen. `model/diffusers/unet` has them merged in, "
            "`model/diffusers/unet_lora.safetensors` holds them alone; `genforge sample RUN "
            "--lora-scale 0.5` weakens them"
        )
    return lines


def _text_encoder_lines(run: Run, cfg: dict) -> list[str]:
    """Which text encoder a text-to-image run used (none for other runs)."""
    mc = cfg["model_config"]
    if "text_encoder" not in mc:
        return []
    if not mc["text_encoder"]:
        return [
            f"- text encoder: a small transformer ({mc['text_layers']} layers, width "
            f"{mc['text_dim']}) trained with the UNet on the captions"
        ]
    copy = run.model_dir / "diffusers" / "text_encoder"
    hf = json.loads((copy / "config.json").read_text()) if (copy / "config.json").exists() else {}
    arch = ", ".join(hf.get("architectures") or ["?"])
    width = hf.get("hidden_size", "?")
    layers = hf.get("num_hidden_layers", "?")
    how = "fine-tuned with the UNet" if mc.get("train_text_encoder") else "frozen"
    proj = (
        f"projected {width} -> {mc['text_dim']} by a trained linear layer"
        if width != mc["text_dim"]
        else "fed to the UNet as they are"
    )
    return [
        f"- text encoder: pretrained `{arch}` ({hf.get('model_type', '?')}, hidden size {width}, "
        f"{layers} layers) from `{mc['text_encoder']}`, {how}; its last hidden states are "
        f"{proj}; a copy with its tokenizer is in `model/diffusers/text_encoder/`"
    ]


def feedback_lines(rounds: list[dict]) -> list[str]:
    """The "Feedback" section: what each round learned from, and what it did to diversity."""
    if not rounds:
        return []
    lines = ["", "## Feedback", ""]
    for r in rounds:
        a, b = r.get("steps", ["?", "?"])
        lines.append(
            f"- round {r['round']} (steps {a} to {b}, {r['kind']}): {r['ratings']} ratings by "
            f"{', '.join(r['raters'])} of {r['rated_outputs']} outputs ({r['approved']} approved, "
            f"{r['rejected']} rejected); at most {r['share']:.0%} of each step rated outputs, "
            f"weight {r['weight']}; the weights from before: `{r['previous_weights']}`"
        )
        keys = [k for k in r.get("after", {}) if k in r.get("before", {})]
        moves = ", ".join(f"{k} {r['before'][k]:.3g} → {r['after'][k]:.3g}" for k in keys)
        lines.append(f"  - fresh samples before → after: {moves}")
        if r.get("diversity_fell"):
            lines.append(f"  - **warning: diversity fell** ({'; '.join(r['diversity_fell'])})")
    return lines


def _detection_lines(run: Run) -> list[str]:
    """What a detector run's evaluation measured (detector.json, written by genforge eval)."""
    path = run.path / "detector.json"
    if not path.exists():
        return []
    d = json.loads(path.read_text(encoding="utf-8"))
    cal = d["calibration"]
    lines = ["", "## Detection (measured on held-out images)", "",
             f"- AUC {d['auc']:.4f}, accuracy {d['accuracy']:.4f} on the same generator"]  # fmt: skip
    after = [f"{k.removeprefix('auc_')} {d[k]:.4f}" for k in d if k.startswith("auc_")
             and k != "auc_unseen"]  # fmt: skip
    lines.append(f"- AUC after {', '.join(after)}")
    if "auc_unseen" in d:
        lines.append(f"- AUC {d['auc_unseen']:.4f} on an unseen generator ({d.get('eval_fake')})")
    lines.append(
        f"- threshold {cal['threshold']:.4f} for a {cal['target_fpr']:.0%} false-positive rate: "
        f"measured {cal['fpr']:.4f} (95 % CI {cal['fpr_ci'][0]:.4f}-{cal['fpr_ci'][1]:.4f}) on "
        f"{cal['n_real_test']} real images that did not set it; generated caught {cal['tpr']:.4f}"
    )
    return lines


def _source(data: dict) -> str:
    """`folder`, or `A` -> `B` for a two-domain run (--domain-a/--domain-b)."""
    if data.get("domain_b"):
        joint = "paired by name" if data.get("paired") else "unpaired"
        return f"`{data['source']}` -> `{data['domain_b']}` ({joint})"
    return f"`{data['source']}`"


def write_lora_card(run: Run) -> Path:
    """README.md of a LoRA run (`genforge train lora`): the base it adapts, the adapter's size
    against the UNet's, the training, the samples before and after, and how to use it."""
    cfg = run.read_config()
    mc, base, meta = {**cfg["model_config"], **cfg["train"]}, cfg["base"], run.read_meta() or {}
    records = run.metrics()
    last = records[-1] if records else {}
    lora_file = run.path / "pytorch_lora_weights.safetensors"
    size = lora_file.stat().st_size if lora_file.exists() else 0
    lora_n, unet_n = meta.get("lora_parameters", 0), meta.get("unet_parameters", 0)
    unet_lora = meta.get("unet_lora_parameters", lora_n)
    share = (
        f" (the UNet's adapters {unet_lora:,}: {100 * unet_lora / unet_n:.3g} % of its {unet_n:,})"
        if unet_n
        else ""
    )
    losses_png = plot_losses(run)
    targets = ", ".join(mc["targets"]) + (
        f"; text encoder: {', '.join(mc['text_targets'])}" if mc["train_text_encoder"] else ""
    )
    lines = [
        f"# {run.name}",
        "",
        f"LoRA adapters trained with genforge {cfg.get('genforge_version', '')} on "
        f"{cfg['data']['images']} images from `{cfg['data']['source']}` (captions: "
        f"{cfg['data']['captions']}), for the base pipeline `{base['path']}` "
        f"({base['pipeline']}, weights sha256 `{base['weights_sha256'][:16]}…`).",
        "",
        "## Adapters",
        "",
        f"- rank {mc['rank']}, alpha {mc['alpha']:g}, on {targets}",
        f"- {lora_n:,} parameters{share}; `pytorch_lora_weights.safetensors` is {size:,} bytes",
        "",
        "## Training",
        "",
        f"- steps {meta.get('step', 0)}, batch size {mc['batch_size']}, lr {mc['lr']:g}, "
        f"precision {mc['precision']}, optimizer {mc['optimizer']}, image size "
        f"{mc['image_size']}, seed {mc['seed']}",
        f"- time {meta.get('train_seconds', 0):.1f} s"
        + (f"; final loss {last['loss']:.4g}" if "loss" in last else ""),
    ]
    if mc.get("class_prompt"):
        lines.append(f"- prior preservation: {mc['prior_images']} class images of "
                     f"\"{mc['class_prompt']}\" (class_images/), weight {mc['prior_loss_weight']:g}")  # fmt: skip
    lines += [
        "",
        "## Samples",
        "",
        f"Prompts (rows): {' | '.join(mc['sample_prompts'])}; seeds (columns): "
        f"{', '.join(map(str, mc['sample_seeds']))}; {mc['sample_steps']} steps, guidance "
        f"{mc['guidance']:g}.",
        "",
        "Before training: ![before](samples/before.png)  After: ![after](samples/after.png)",
        "",
        *(["![losses](samples/losses.png)", ""] if losses_png else []),
        "## Use",
        "",
        "```bash",
        f"genforge generate image --model {base['path']} --lora {run.name} --lora-scale 0.8 "
        f'--prompt "{mc["sample_prompts"][0] if mc["sample_prompts"] else "..."}"',
        "```",
        "",
        "```python",
        "from diffusers import StableDiffusionPipeline",
        f'pipe = StableDiffusionPipeline.from_pretrained("{base["path"]}")',
        f'pipe.load_lora_weights("{run.path.resolve()}")',
        "```",
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(
            {k: cfg[k] for k in ("model", "base", "data", "model_config", "train")}, sort_keys=False
        ).rstrip(),
        "```",
        "",
        "## Limits",
        "",
        "- The adapters belong to this base: another base (or a changed one; compare the "
        "weights hash) may load them with a warning or not at all.",
        "- A few images teach a narrow concept; check the samples for overfitting (the same "
        "picture at every seed) and lower --steps or --lr if they show it.",
        "",
    ]
    write_text(run.card_path, "\n".join(lines))
    return run.card_path
