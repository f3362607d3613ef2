"""`genforge eval RUN` on a LoRA run (`genforge train lora`): what the adapters changed.

The run's base pipeline draws `n` samples at the training captions with fixed seeds twice,
with the adapters at scale 0 (the base alone: "before") and at scale 1 (as trained: "after"),
the same (prompt, seed) pairs both times. Then:

- closeness to the instance images (every training image) in a named feature space: the mean
  distance from each sample to its nearest instance image, beside the instance images' own
  leave-one-out distance to each other (how close another photo of the subject is); with a CLIP
  folder also DreamBooth's CLIP-I (Ruiz et al. 2022, arXiv:2208.12242);
- prompt adherence with a CLIP folder: the CLIP score of each sample against its prompt;
- the memorization audit against the instance images (pixels and the feature space), calibrated
  leave-one-out since a LoRA has no held-out images; the run is flagged when at least
  `FLAG_SHARE` of its samples are near-copies.

Fréchet distance, KID and k-NN precision/recall are left out: with a few dozen images in a
512- to 2048-dimensional space they measure the sample size more than the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Literal

import torch

from genforge.core.errors import GenforgeError
from genforge.core.images import make_grid, save_png
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.evaluate.clip import ClipSpace, clip_i, clip_score
from genforge.evaluate.memorization import Audit, audit, nearest
from genforge.evaluate.report import Raw, html_table, png_img
from genforge.evaluate.result import EvalResult, Metric, Section

DEFAULT_N = 64  # samples per side: a few per caption, minutes on a GPU at 512 px
FLAG_SHARE = 0.1  # the run is flagged when this share of its samples are near-copies
SHOWN = 8  # samples shown before/after in the report
LoraFeatures = Literal["auto", "clip", "inception", "vae"]
SIDES = {"before": 0.0, "after": 1.0}  # LoRA scale of each side


# ---------------------------------------------------------------------------------------
# The run's data and the feature spaces
# ---------------------------------------------------------------------------------------


@dataclass
class Instances:
    """The run's training images as it trained on them, and their captions."""

    images: torch.Tensor  # (N, 3, S, S) in [-1, 1]
    captions: list[str]

    @property
    def prompts(self) -> list[str]:
        return list(dict.fromkeys(self.captions))


def instance_images(run: Run) -> Instances:
    """Reload the run's image folder with the captions it trained on; a folder that gained or
    lost images since is a one-line error."""
    from genforge.data.caption_folder import decode_rgb, items_of_run

    cfg = run.read_config()
    items = items_of_run(cfg["data"], cfg["model_config"].get("sample_prompts") or ())
    return Instances(decode_rgb(items, int(cfg["train"]["image_size"])), [i.caption for i in items])


class VaeSpace:
    """The base pipeline's own VAE latents (mean of the latent distribution, flattened
    (4 x h x w)): spatial, close to a downsampled pixel space rather than a semantic one."""

    kind = "vae"
    label = "base VAE latents"

    def __init__(self, vae: Any):
        self.vae = vae

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        out = []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(self.vae.device, self.vae.dtype)
            out.append(self.vae.encode(x).latent_dist.mean.float().flatten(1).cpu())
        return torch.cat(out).double()


def check_options(features: str, clip: str | Path | None, n: int) -> None:
    """One-line errors for what can be refused before anything loads."""
    from genforge.evaluate.clip import check_clip_folder

    if features == "domain":
        raise GenforgeError("a domain network trained on a LoRA's few instance images is no "
                            "meaningful feature space; use auto, clip, inception or vae")  # fmt: skip
    if features not in ("auto", "clip", "inception", "vae"):
        raise GenforgeError(f"unknown feature space '{features}' for LoRA runs; choose auto, "
                            "clip, inception or vae")  # fmt: skip
    if features == "clip" and clip is None:
        raise GenforgeError("--features clip needs --clip FOLDER (a local CLIPModel folder)")
    if clip is not None:
        check_clip_folder(clip)
    if n < 2:
        raise GenforgeError(f"--n must be at least 2 for a LoRA run, got {n}")


def lora_space(
    features: str, clip: ClipSpace | None, inception_weights: str | Path | None, vae: Any,
    device: torch.device,
) -> Any:  # fmt: skip
    """auto: CLIP when a folder is given, else Inception when its weights are on disk, else the
    base's VAE latents. A domain network is refused (`check_options`): trained on a LoRA's ~20
    images it would not be a meaningful space."""
    from genforge.evaluate.features import InceptionSpace, inception_weights_path

    if clip is not None and features in ("auto", "clip"):
        return clip
    if features in ("auto", "inception"):
        path = inception_weights_path(inception_weights)
        if path is not None:
            return InceptionSpace(path, device)
        if features == "inception":
            raise GenforgeError("Inception weights not found; give --inception-weights "
                                "(genforge never downloads them)")  # fmt: skip
    return VaeSpace(vae)


def space_label(space: Any) -> str:
    return "Inception pool3" if space.kind == "inception" else space.label


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


def sample_plan(prompts: list[str], n: int, seed: int) -> tuple[list[str], list[int]]:
    """Sample i is drawn at prompt i mod P with seed `seed` + i."""
    return [prompts[i % len(prompts)] for i in range(n)], [seed + i for i in range(n)]


def draw_samples(
    provider: Any, prompts: list[str], seeds: list[int], scale: float, size: int, steps: int,
    guidance: float, progress: Stages, batch: int = 8,
) -> torch.Tensor:  # fmt: skip
    """(N, 3, size, size) in [-1, 1]: each (prompt, seed) drawn with the adapters at `scale`."""
    from genforge.models.sd_lora import draw

    provider.set_lora_scale(scale)
    out = []
    for i in range(0, len(prompts), batch):
        out.append(draw(provider.pipe, prompts[i : i + batch], seeds[i : i + batch], size,
                        steps, guidance))  # fmt: skip
        progress.advance(len(out[-1]))
    return torch.cat(out)


# ---------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------


def evaluate_lora(
    run: Run,
    n: int | None = None,
    seed: int = 0,
    features: str = "auto",
    inception_weights: str | Path | None = None,
    clip: str | Path | None = None,
    steps: int | None = None,
    device: str = "auto",
    progress: Stages | None = None,
) -> EvalResult:
    """Draw samples before and after the adapters and score them (see the module docstring).

    Args:
        run: a LoRA run.
        n: samples per side (default `DEFAULT_N`).
        seed: the first sample's seed (sample i: seed + i).
        features: auto, clip, inception or vae (see `lora_space`).
        inception_weights: pt_inception-2015-12-05-6726825d.pth (never downloaded).
        clip: a local CLIPModel folder: CLIP score, CLIP-I, and the feature space under auto.
        steps: denoising steps (default: the run's sample_steps).
        device: auto, cpu or cuda.
        progress: where the stages are reported.
    """
    from genforge.core.device import pick_device
    from genforge.core.hf import quiet_diffusers
    from genforge.generate.providers import LocalPipeline
    from genforge.models.pipeline_folder import weights_hash
    from genforge.models.sd_lora import lora_weights_file

    st = progress or Stages.off()
    cfg = run.read_config()
    lora_weights_file(run.path, cfg)
    n = DEFAULT_N if n is None else n
    check_options(features, clip, n)
    base, mc = Path(cfg["base"]["path"]), cfg["model_config"]
    st.stage("reading the instance images")
    inst = instance_images(run)
    st.stage("hashing and loading the base pipeline with the run's adapters")
    if base.is_dir() and weights_hash(base) != cfg["base"]["weights_sha256"]:
        raise GenforgeError(f"the base pipeline {base} changed since run '{run.name}' trained "
                            "on it (its safetensors hash differs)")  # fmt: skip
    quiet_diffusers()
    provider = LocalPipeline(base, device=device, lora=run.path, lora_scale=1.0)
    dev = pick_device(device)
    clip_space = ClipSpace(clip, dev) if clip is not None else None
    space = lora_space(features, clip_space, inception_weights, provider.pipe.vae, dev)
    prompts, seeds = sample_plan(inst.prompts, n, seed)
    size, steps = int(cfg["train"]["image_size"]), int(steps or mc["sample_steps"])
    samples = {}
    for side, scale in SIDES.items():
        st.stage(f"sampling {n} images {side} the LoRA (scale {scale:g})", total=n)
        samples[side] = draw_samples(provider, prompts, seeds, scale, size, steps,
                                     float(mc["guidance"]), st)  # fmt: skip
    st.stage(f"scoring (features: {space_label(space)}"
             + ("; CLIP score)" if clip_space else ")"))  # fmt: skip
    result = score_lora(inst, samples, prompts, space, clip_space)
    result.extra["sampling"] = {"n": n, "seeds": f"{seed}..{seed + n - 1}", "steps": steps,
                                "guidance": float(mc["guidance"]), "size": size,
                                "prompts": inst.prompts}  # fmt: skip
    result.sections.insert(1, samples_section(run, inst, samples, prompts, seeds))
    return result


def score_lora(
    inst: Instances, samples: dict[str, torch.Tensor], prompts: list[str], space: Any,
    clip: ClipSpace | None,
) -> EvalResult:  # fmt: skip
    """The metrics and report sections of samples {"before": ..., "after": ...} drawn at
    `prompts` (one per sample) against the instance images."""
    kind, label = space.kind, space_label(space)
    ref = space.features(inst.images)
    feats = {side: space.features(x) for side, x in samples.items()}
    loo = float(nearest(ref, ref, skip_self=True)[0].mean()) if len(ref) > 1 else float("nan")
    metrics, rows = [], []
    for side, scale in SIDES.items():
        d = float(nearest(feats[side], ref)[0].mean())
        metrics.append(Metric(f"nn_{kind}_{side}",
                              f"nearest-instance distance, {side} LoRA (RMS, {label})",
                              d, None, f"mean over {len(feats[side])} samples, scale {scale:g}"))  # fmt: skip
    metrics.append(Metric(f"nn_{kind}_instances",
                          f"nearest-instance distance of the instance images (RMS, {label})", loo, None,
                          f"leave-one-out nearest, mean over {len(ref)}: another photo of the subject"))  # fmt: skip
    rows.append([f"distance to nearest instance (RMS, {label})",
                 *(m.value for m in metrics)])  # fmt: skip
    if clip is not None:
        clip_metrics, clip_rows = score_clip(clip, inst, samples, prompts, space, ref, feats)
        metrics += clip_metrics
        rows += clip_rows
    audits = {side: audit(samples[side], inst.images, None, feats[side], ref) for side in SIDES}
    after = audits["after"]
    rate = after.num_flagged / len(after.flagged)
    metrics += [
        Metric("memorized", "near-copies of instance images, after LoRA", float(after.num_flagged),
               "lower", f"of {len(after.flagged)}; pixels or {label}, leave-one-out calibration"),
        Metric("memorized_rate", "near-copy share, after LoRA", rate,
               "lower", f"the run is flagged at {FLAG_SHARE:g} or more"),
        Metric("memorized_before", "near-copies of instance images, before LoRA",
               float(audits["before"].num_flagged), None, "the base alone, same prompts and seeds"),
    ]  # fmt: skip
    flagged = rate >= FLAG_SHARE
    extra = {
        "feature_space": {"kind": kind, "label": label},
        "memorization": {**after.summary(), "flagged_run": flagged, "flag_share": FLAG_SHARE},
        "memorization_before": audits["before"].summary(),
    }
    sections = [
        Section("What the LoRA changed", verdict_html(after, flagged)
                + html_table(["", "before (scale 0)", "after (scale 1)", "instance images"], rows)),
        audit_section(samples["after"], inst.images, after),
        Section("Feature space", space_html(space, clip)),
    ]  # fmt: skip
    return EvalResult("lora", metrics, sections, extra)


def score_clip(
    clip: ClipSpace, inst: Instances, samples: dict[str, torch.Tensor], prompts: list[str],
    space: Any, ref: torch.Tensor, feats: dict[str, torch.Tensor],
) -> tuple[list[Metric], list[list[Any]]]:  # fmt: skip
    """CLIP-I and CLIP score before and after, and the instance images' own values (metrics
    and the rows of the before/after table)."""
    inst_clip = ref if space is clip else clip.features(inst.images)
    side_clip = {s: feats[s] if space is clip else clip.features(x) for s, x in samples.items()}
    ci = {s: clip_i(f, inst_clip) for s, f in side_clip.items()}
    m = len(inst_clip)  # the instance images to each other, each image's self-pair left out
    sim = inst_clip @ inst_clip.T
    ci_ref = float((sim.sum() - sim.trace()) / (m * (m - 1))) if m > 1 else float("nan")
    cs = {s: clip_score(clip, x, prompts) for s, x in samples.items()}
    cs_ref = clip_score(clip, inst.images, inst.captions)
    name = clip.path.name
    metrics = [
        *(Metric(f"clip_i_{side}", f"CLIP-I subject fidelity, {side} LoRA", ci[side], "higher",
                 f"mean cosine of (sample, instance image) pairs, {name}") for side in SIDES),
        *(Metric(f"clip_score_{side}", f"CLIP score, {side} LoRA", cs[side], "higher",
                 f"100 x max(cosine, 0) of each sample and its prompt, {name}") for side in SIDES),
        Metric("clip_score_instances", "CLIP score of the instance images", cs_ref, None,
               "each instance image against its caption"),
    ]  # fmt: skip
    rows = [["CLIP-I (mean cosine to instance images)", ci["before"], ci["after"], ci_ref],
            ["CLIP score (prompt adherence, 0-100)", cs["before"], cs["after"], cs_ref]]  # fmt: skip
    return metrics, rows


# ---------------------------------------------------------------------------------------
# Report sections
# ---------------------------------------------------------------------------------------


def verdict_html(aud: Audit, flagged: bool) -> str:
    n, k = len(aud.flagged), aud.num_flagged
    if flagged:
        return (f"<div class='verdict bad'>Memorization: {k} of {n} samples are near-copies of "
                "instance images; the LoRA reproduces its training photos.</div>")  # fmt: skip
    tone = "warn" if k else "ok"
    return (f"<div class='verdict {tone}'>{k} of {n} samples are near-copies of instance images "
            f"(the run is flagged at {FLAG_SHARE:.0%}).</div>")  # fmt: skip


def shown(images: torch.Tensor, k: int = SHOWN, cell: int = 192) -> torch.Tensor:
    """The first `k` images, downscaled to at most `cell` px so the report stays small."""
    x = images[:k].float()
    if x.shape[-1] > cell:
        x = torch.nn.functional.interpolate(x, size=(cell, cell), mode="bilinear", antialias=True)
    return x


def samples_section(
    run: Run, inst: Instances, samples: dict[str, torch.Tensor], prompts: list[str],
    seeds: list[int],
) -> Section:  # fmt: skip
    """Instance images, then the first samples before (top row) and after (bottom row) the
    LoRA, column by column the same prompt and seed; the full grids go to samples/."""
    k = min(SHOWN, len(seeds))
    for side, x in samples.items():
        save_png(run.samples_dir / f"eval-{side}.png", make_grid(x, nrow=min(8, len(x))),
                 {"run": run.name, "kind": f"lora-eval-{side}", "lora_scale": SIDES[side],
                  "seeds": f"{seeds[0]}..{seeds[-1]}", "prompts": " | ".join(dict.fromkeys(prompts))})  # fmt: skip
    pair = make_grid(torch.cat([shown(samples["before"]), shown(samples["after"])]), nrow=k)
    real = make_grid(shown(inst.images), nrow=min(SHOWN, len(inst.images)))
    width = min(960, max(320, pair.shape[1] * 4))
    if len(set(prompts[:k])) == 1:
        captions = (
            f"<p class='note'>Prompt: {escape(prompts[0])}; seeds {seeds[0]} to {seeds[k - 1]}.</p>"
        )
    else:
        captions = "<ol class='note'>" + "".join(
            f"<li>{escape(p)} (seed {s})</li>" for p, s in zip(prompts[:k], seeds[:k], strict=True)
        ) + "</ol>"  # fmt: skip
    html = (f"<p>Instance images (the first {min(SHOWN, len(inst.images))} of "
            f"{len(inst.images)}):</p>" + png_img(real, "instance images", width=round(width * real.shape[1] / pair.shape[1]))
            + "<p>Samples: top row the base alone (LoRA scale 0), bottom row with the LoRA "
            "(scale 1); each column one prompt and seed:</p>" + png_img(pair, "before | after", width=width)
            + captions + f"<p class='note'>All {len(seeds)} samples of "
            "each side: samples/eval-before.png and samples/eval-after.png.</p>")  # fmt: skip
    return Section("Samples before and after the LoRA", html)


def audit_section(samples: torch.Tensor, instances: torch.Tensor, aud: Audit) -> Section:
    rows = []
    for i in aud.closest(SHOWN):
        j = int(aud.pixel_index[i])
        pair = make_grid(torch.stack([shown(samples[i : i + 1])[0], shown(instances[j : j + 1])[0]]), nrow=2)  # fmt: skip
        rows.append([Raw(png_img(pair, "sample | nearest instance image", width=160)),
                     float(aud.pixel_dist[i]), "yes" if bool(aud.flagged[i]) else "no"])  # fmt: skip
    text = (
        "<p>The samples drawn with the LoRA that are closest to an instance image (sample left, "
        "nearest instance image right). A sample is a near-copy when it is closer to an instance "
        f"image than half the 5th percentile of the instance images' distances to each other "
        f"(leave-one-out), in pixels ({aud.pixel_threshold:.3g} RMS) or in the feature space"
        + (f" ({aud.feat_threshold:.3g})" if aud.feat_threshold is not None else "")
        + ".</p>"
    )
    return Section("Memorization audit", text + html_table(
        ["sample | nearest instance image", "RMS distance (pixels)", "flagged"], rows))  # fmt: skip


def space_html(space: Any, clip: ClipSpace | None) -> str:
    what = {
        "clip": f"the image tower of the CLIP model in {getattr(space, 'path', '')} "
                "(projected embeddings, unit length)",
        "inception": "InceptionV3 pool3 (2048-d), torch-fidelity weights pt_inception-2015-12-05",
        "vae": "the base pipeline's own VAE latents (the latent mean, flattened): spatial, "
               "closer to a downsampled picture than to a semantic space; give --clip for a "
               "semantic one",
    }[space.kind]  # fmt: skip
    text = f"<p>Distances are measured in {what}. "
    text += ("Fréchet distance, KID and precision/recall are not reported: with a few dozen "
             "images they measure the sample size more than the model.</p>")  # fmt: skip
    if clip is None:
        text += "<p>Prompt adherence (CLIP score) needs --clip FOLDER, a local CLIPModel.</p>"
    else:
        text += ("<p>CLIP score: 100 x max(cosine, 0) of image and prompt embeddings, as "
                 "torchmetrics' CLIPScore defines it. CLIP-I: mean cosine over all (sample, "
                 "instance image) pairs (DreamBooth); the instance images' own value pairs "
                 "each image with every other one.</p>")  # fmt: skip
    return text
