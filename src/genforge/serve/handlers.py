"""How the server loads a run and generates from it, one `ServeHandler` per modality.

The modality table (`genforge.data.modalities.MODALITIES`) names each modality's handler
("serve" role: `IMAGE`, `CAPTIONED_IMAGE`, `TEXT`, `TEXT_PAIR`, `TABLE`, `AUDIO`, `VIDEO` below). A handler loads a
run once (the cache keeps it), samples a whole batch of requests in one forward pass, and
encodes each output (bytes + media type + perceptual hash + watermark); its `controls` also
decide which inputs the web playground shows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run


@dataclass
class Request:
    """One caller's ask, after validation (seed always set, so every output is re-runnable)."""

    n: int
    seed: int
    label: int | str | None = None
    truncation: float | None = None
    prompt: str | None = None
    steps: int | None = None
    # text decoding (None: the modality's default)
    max_new_tokens: int | None = None
    decoding: str | None = None  # greedy | beams | sampling
    num_beams: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    watermark: bool | None = None
    # image runs: diffusion sampling (None: the run's defaults) and best-of-k by quality score
    sampler: str | None = None
    guidance: float | None = None
    eta: float | None = None  # ddim only: 0 deterministic .. 1
    best_of: int | None = None
    gate: str | None = None  # auto | learned | both (with best_of): what scores candidates
    # attribute-conditional runs (attrgan): {attribute: value}; the others random per seed
    attributes: dict[str, str] | None = None


@dataclass
class Encoded:
    content: bytes
    media_type: str
    ext: str
    phash: str | None  # perceptual hash for lookup when no watermark fits
    watermarked: bool
    preview: Any = None  # shown inline in the response: the text (str) or the rows (list)


@dataclass(frozen=True)
class ServeHandler:
    """How to serve one modality.

    load(run, device) -> model; sample(model, requests) -> one list of raw outputs per
    request (one forward pass for all); encode(raw, params, output_id) -> Encoded (it may add
    item-specific keys to `params`, which is that output's own dict).
    controls: the request fields this modality can take (GET /v1/info lists them).
    run_controls(config) -> the fields one run takes (a subset of `controls`, e.g. samplers
    for diffusion runs only); None: `controls`. The playground shows exactly these, and
    /v1/generate refuses the others.
    check(model, request): raise GenforgeError for a request that cannot work, before it joins
    a batch (so one bad request never fails its neighbours).
    max_n: the limit on `n` as a Settings field name (images and clips: max_n; rows: max_rows).
    """

    load: Callable[[Run, str], Any]
    sample: Callable[[Any, list[Request]], list[list[Any]]]
    encode: Callable[[Any, dict[str, Any], str], Encoded]
    controls: tuple[str, ...] = field(default=("n", "seed"))
    check: Callable[[Any, Request], None] | None = None
    max_n: str = "max_n"
    run_controls: Callable[[dict[str, Any]], tuple[str, ...]] | None = None


# -- image ----------------------------------------------------------------------------------


def _load_image(run: Run, device: str):
    """GANs and VAEs: an ImagePipeline; diffusion runs: a DiffusionPipeline (DDIM, its default
    steps), the same pipeline `genforge sample` opens."""
    from genforge.generate.image import open_pipeline

    return open_pipeline(run, device)


STOCHASTIC_SAMPLERS = ("ddpm",)  # draw fresh noise at every step (from the request's seed)


@dataclass
class ImageOut:
    """One sampled image and what the encoder records with it (resolved sampler settings,
    the best-of quality score)."""

    image: np.ndarray  # uint8 (H, W, C)
    extra: dict[str, Any] = field(default_factory=dict)


def image_controls(cfg: dict[str, Any]) -> tuple[str, ...]:
    """The playground fields of one image run, from its config: GANs and VAEs take a
    truncation and best-of; diffusion runs a sampler, steps, ddim's eta and (conditional)
    guidance; text-to-image runs a prompt; translation and super-resolution runs are not
    sampled here."""
    from genforge.models import get_entry
    from genforge.models.diffusion import DDPM

    family = get_entry(cfg["model"]).family
    conditional = bool(cfg.get("model_config", {}).get("conditional"))
    label = ("label",) if conditional else ()
    if family.task in ("translate", "upscale", "detect"):
        return ()  # cyclegan, pix2pix, sr: genforge translate / upscale; detector: /v1/detect
    if family.task == "attributes":  # attrgan: a dict of attribute values, not a label
        return ("n", "seed", "attributes", "truncation")
    if not issubclass(family, DDPM):
        return ("n", "seed", *label, "truncation", "best_of", "gate")
    if family.task == "prompt":  # text-to-image
        return ("n", "seed", "prompt", *label, "sampler", "steps", "eta", "guidance")
    guidance = ("guidance",) if conditional else ()
    return (
        "n",
        "seed",
        *label,
        "sampler",
        "steps",
        "eta",
        *guidance,
        "truncation",
        "best_of",
        "gate",
    )


def _is_diffusion(pipe) -> bool:
    from genforge.models.diffusion import DDPM

    return isinstance(pipe.model, DDPM)


def diffusion_settings(pipe, r: Request) -> tuple[str, int, float | None, float | None]:
    """(sampler, steps, guidance, eta) a request runs with: its own, else the pipeline's
    defaults (DDIM, 50 steps; a sampler's own default steps when only the sampler is given; the
    run's guidance scale for conditional runs, None for unconditional ones; eta 0 is None)."""
    from genforge.generate.diffusion import SAMPLERS

    sampler = r.sampler or pipe.sampler
    steps = r.steps if r.steps is not None else (pipe.steps if r.sampler is None else None)
    if steps is None:
        steps = SAMPLERS[sampler][1] or int(pipe.model.scheduler.config.num_train_timesteps)
    guidance = r.guidance
    if guidance is None and pipe.model.conditional:
        guidance = float(pipe.model.config.guidance)
    return sampler, int(steps), guidance, (r.eta or None)


def is_stochastic(settings: tuple) -> bool:
    """Settings that draw fresh noise at every step (from the request's seed): such a request
    runs alone, as `genforge sample` would."""
    sampler, _, _, eta = settings
    return sampler in STOCHASTIC_SAMPLERS or eta is not None


_SCORER_LOCK = threading.Lock()


def quality_scorer(pipe, gate: str | None = None):
    """The run's quality gate scorer (genforge.evaluate.gate) of kind `gate` (auto, learned
    or both), built on first use and kept with the loaded pipeline. The first call reads the
    training data and loads (or, once per data set, trains) the domain feature network."""
    gate = gate or "auto"
    with _SCORER_LOCK:
        scorers = pipe.__dict__.setdefault("_genforge_scorers", {})
        if gate not in scorers:
            from genforge.evaluate.gate import QualityScorer
            from genforge.evaluate.image import ImageEvaluator

            ev = scorers["evaluator"] if "evaluator" in scorers else ImageEvaluator(
                pipe.run, device=str(pipe.device), pipeline=pipe
            )  # fmt: skip
            scorers["evaluator"] = ev
            scorers[gate] = QualityScorer(ev, gate)
        return scorers[gate]


def sample_images(pipe, requests: list[Request]) -> list[list[ImageOut]]:
    """Each request's latents come from its own seeded generator, exactly as
    `ImagePipeline.sample(n, seed, label, truncation)` (or `sample_prompt`) draws them; then
    one forward pass per group of requests that can share it. Diffusion requests group by
    (sampler, steps, guidance); a stochastic sampler (ddpm) runs each request alone, its
    per-step noise drawn from the request's generator as `genforge sample` does."""
    if not _is_diffusion(pipe):
        return _sample_group(pipe, requests, None)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(requests):
        key = diffusion_settings(pipe, r)
        groups.setdefault((*key, i) if is_stochastic(key) else key, []).append(i)
    out: list[list[ImageOut]] = [[] for _ in requests]
    for key, idx in groups.items():
        for i, images in zip(idx, _sample_group(pipe, [requests[i] for i in idx], key[:4]),
                             strict=True):  # fmt: skip
            out[i] = images
    return out


def _sample_group(pipe, requests: list[Request], settings: tuple | None) -> list[list[ImageOut]]:
    from genforge.core.images import to_uint8
    from genforge.evaluate.gate import best_of_each

    zs, ys, gens = [], [], []
    text = pipe.model.task == "prompt"  # text-to-image: conditions are token ids (n, L)
    for r in requests:
        g = torch.Generator().manual_seed(r.seed)
        k = r.best_of or 1  # k candidates per output, in a row
        if r.prompt is not None:
            z, y = pipe.draw_prompt(r.prompt, r.n, g)  # as DiffusionPipeline.sample_prompt
        else:  # as ImagePipeline.sample (attribute runs: codes from r.attributes)
            z, y = pipe.draw(r.n, g, r.label, r.truncation, r.attributes, repeat=k)
            if y is not None and text:  # a caption index -> its token ids
                y = pipe.model.condition(y).cpu()
        zs.append(z)
        ys.append(y)
        gens.append(g)
    z = torch.cat(zs)  # (sum n * k, D)
    y = torch.cat(ys) if ys[0] is not None else None
    extra: dict[str, Any] = {}
    if settings is None:
        images = pipe.generate(z, y)  # (sum n * k, C, H, W) in [-1, 1]
    else:
        sampler, steps, guidance, eta = settings
        images = _denoise(pipe, z, y, sampler, steps, guidance, gens[0], eta=eta)
        extra = {"sampler": sampler, "steps": steps}
        if guidance is not None:
            extra["guidance"] = guidance
        if eta is not None:
            extra["eta"] = eta
    out, i = [], 0
    for r in requests:
        k = r.best_of or 1
        chunk = images[i : i + r.n * k]
        if r.best_of is None:
            out.append([ImageOut(to_uint8(x), dict(extra)) for x in chunk])
        else:
            labels = y[i : i + r.n * k] if y is not None else None
            scorer = quality_scorer(pipe, r.gate)
            best, scores = best_of_each(scorer, chunk, labels, k)
            gate = ",".join(scorer.components)
            out.append([
                ImageOut(to_uint8(chunk[int(b)]),
                         {**extra, "score": round(float(s), 4), "gate": gate})
                for b, s in zip(best, scores, strict=True)
            ])  # fmt: skip
        i += r.n * k
    return out


@torch.no_grad()
def _denoise(pipe, z, y, sampler: str, steps: int, guidance, generator, batch: int = 256,
             eta: float | None = None):  # fmt: skip
    """DiffusionPipeline.generate with explicit settings (the cached pipeline is shared by
    requests with different ones, so its own attributes stay untouched)."""
    from genforge.generate.diffusion import denoise, make_sampler

    c, s = pipe.spec.channels, pipe.spec.size
    out = []
    for i in range(0, z.size(0), batch):
        x = z[i : i + batch].view(-1, c, s, s).to(pipe.device)
        yb = y[i : i + batch].to(pipe.device) if y is not None else None
        scheduler = make_sampler(sampler, pipe.model.scheduler, steps)
        x = denoise(pipe.model, x, scheduler, yb, guidance, generator=generator, eta=eta)
        out.append(x.float().cpu())
    return torch.cat(out)


def encode_image(arr: np.ndarray | ImageOut, params: dict[str, Any], oid: str) -> Encoded:
    """uint8 (H, W, C) -> PNG with a `genforge` params chunk; >= 256 px also watermarked."""
    from genforge.safety.marking import encode_png

    if isinstance(arr, ImageOut):
        params.update(arr.extra)
        arr = arr.image
    png = encode_png(arr, params, oid)
    return Encoded(png.content, "image/png", "png", png.phash, png.watermarked)


def _check_image(pipe, r: Request) -> None:
    """Labels, prompts, sampler steps and the quality scorer fail here, alone (400)."""
    if pipe.model.task == "upscale":
        raise GenforgeError(
            f"run '{pipe.run.name}' is a super-resolution model; use genforge upscale"
        )
    if r.prompt is not None and r.label is not None:
        raise GenforgeError("give a prompt or a label, not both")
    pipe.label_index(r.label)
    if r.attributes is not None:  # unknown attribute or value: this request alone fails
        pipe.attribute_codes(pipe.model.latent(1), r.attributes)
    if r.prompt is not None:
        pipe.model.tokenize(r.prompt)  # unknown words, too long
    if _is_diffusion(pipe):
        sampler, steps = diffusion_settings(pipe, r)[:2]
        if r.eta is not None and sampler != "ddim":
            raise GenforgeError(f"eta applies to the ddim sampler, not {sampler}")
        total = int(pipe.model.scheduler.config.num_train_timesteps)
        if not 1 <= steps <= total:
            raise GenforgeError(f"steps must be between 1 and {total} for this model, got {steps}")
    if r.gate is not None and r.best_of is None:
        raise GenforgeError("gate chooses how best_of scores candidates; give best_of too")
    if r.best_of is not None:
        quality_scorer(pipe, r.gate)  # built here, outside the batch, on the first request


# -- text -----------------------------------------------------------------------------------


class _LockedText:
    """A TextPipeline and the lock its decoding holds: transformers' sampling draws from
    torch's global generator, so two batches decoding at once would mix their seeds."""

    def __init__(self, run: Run, device: str):
        from genforge.generate.text import TextPipeline

        self.pipe = TextPipeline(run, device=device)
        self.model = self.pipe.model  # what the cache sizes
        self.lock = threading.Lock()


def decoding_of(r: Request) -> str:
    """greedy for one text, sampling for several, unless the request says."""
    return r.decoding or ("greedy" if r.n == 1 else "sampling")


def text_options(r: Request):
    """A request's DecodeOptions (the CLI's `generate text` options)."""
    from genforge.generate.text import DecodeOptions

    decoding = decoding_of(r)
    beams = (r.num_beams or max(4, r.n)) if decoding == "beams" else 1
    return DecodeOptions(
        max_new_tokens=r.max_new_tokens, do_sample=decoding == "sampling",
        temperature=r.temperature if r.temperature is not None else 1.0,
        top_k=r.top_k, top_p=r.top_p, num_beams=beams, num_return_sequences=r.n,
        seed=r.seed, watermark=bool(r.watermark),
    )  # fmt: skip


class LockedCausalLM:
    """A local causal LM folder (`genforge serve --model-dir`) served like a text run: its
    CausalLMPipeline decodes with the options and seeds of text runs, under its own lock."""

    def __init__(self, path: Any, device: str):
        from genforge.generate.causal_lm import CausalLMPipeline

        self.pipe = CausalLMPipeline(path, device=device)
        self.model = self.pipe.hf  # what the cache sizes
        self.lock = threading.Lock()


class LockedPipeline:
    """A local diffusers text-to-image folder (`genforge serve --model-dir`): the pipeline of
    `genforge generate image --model FOLDER`, one request at a time under its own lock."""

    def __init__(self, path: Any, device: str):
        from genforge.generate.providers import LocalPipeline

        self.provider = LocalPipeline(path, device=device)
        self.lock = threading.Lock()

    def parameter_bytes(self) -> int:
        nets = [c for c in self.provider.pipe.components.values() if hasattr(c, "parameters")]
        return sum(p.numel() * p.element_size() for n in nets for p in n.parameters())


def check_pipeline_request(model: LockedPipeline, r: Request) -> None:
    if not (r.prompt or "").strip():
        raise GenforgeError("a text-to-image pipeline needs a prompt")
    if r.steps is not None and not 1 <= r.steps <= 1000:
        raise GenforgeError(f"steps must be between 1 and 1000, got {r.steps}")


def sample_pipeline(model: LockedPipeline, requests: list[Request]) -> list[list[ImageOut]]:
    """Each request's n images, from its prompt and seed (as `generate image` draws them)."""
    out = []
    with model.lock:
        for r in requests:
            images = model.provider.txt2img(r.prompt, n=r.n, seed=r.seed, guidance=r.guidance,
                                            steps=r.steps)  # fmt: skip
            out.append([ImageOut(np.asarray(im.convert("RGB"))) for im in images])
    return out


def check_text_request(model: _LockedText | LockedCausalLM, r: Request) -> None:
    """Options that cannot work and prompts that overflow the context fail here (400)."""
    opts = text_options(r)
    opts.check()
    decoding = decoding_of(r)
    if decoding != "sampling" and any(v is not None for v in (r.temperature, r.top_k, r.top_p)):
        raise GenforgeError("temperature, top_k and top_p apply to decoding 'sampling' only")
    if r.num_beams is not None and decoding != "beams":
        raise GenforgeError("num_beams applies to decoding 'beams' only")
    pipe = model.pipe
    pipe.new_tokens(len(pipe.prompt_ids(r.prompt or "", opts)), opts)


def _check_text(model: _LockedText, r: Request) -> None:
    check_text_request(model, r)
    opts = text_options(r)
    if model.pipe.model.count_based and (opts.num_beams > 1 or opts.watermark):
        raise GenforgeError("n-gram runs decode greedily or by sampling, without watermarks")


def sample_texts(model: _LockedText | LockedCausalLM, requests: list[Request]) -> list[list[Any]]:
    """Each request decodes on its own (prompts differ in length); seeds as in the CLI."""
    with model.lock:
        return [model.pipe.generate([r.prompt or ""], text_options(r))[0] for r in requests]


def encode_text(gen, params: dict[str, Any], oid: str) -> Encoded:
    """One continuation -> UTF-8 text (the continuation only; the prompt is in params)."""
    params["sample_seed"] = gen.seed
    params["new_tokens"] = gen.new_tokens
    return Encoded(gen.text.encode("utf-8"), "text/plain; charset=utf-8", "txt", None,
                   bool(params.get("watermark")), preview=gen.text)  # fmt: skip


# -- text pairs (translation, summarisation) --------------------------------------------------


class _LockedPairs:
    """A Seq2SeqPipeline and the lock its decoding holds (sampling draws from torch's global
    generator, as for text runs)."""

    def __init__(self, run: Run, device: str):
        from genforge.generate.seq2seq import Seq2SeqPipeline

        self.pipe = Seq2SeqPipeline(run, device=device)
        self.model = self.pipe.model  # what the cache sizes
        self.lock = threading.Lock()


@dataclass
class PairOut:
    text: str
    seed: int


def pair_decode(r: Request, seed: int):
    """A request's DecodeConfig: greedy for one output, sampling for several (as for text
    runs), unless it asks."""
    from genforge.models.seq2seq import DecodeConfig

    decoding = decoding_of(r)
    return DecodeConfig(
        num_beams=(r.num_beams or 4) if decoding == "beams" else 1,
        do_sample=decoding == "sampling",
        temperature=r.temperature if r.temperature is not None else 1.0,
        top_p=r.top_p if r.top_p is not None else 1.0,
        max_new_tokens=r.max_new_tokens or 128, seed=seed,
    )  # fmt: skip


def _check_pairs(model: _LockedPairs, r: Request) -> None:
    if not (r.prompt or "").strip():
        raise GenforgeError("text-to-text runs need a prompt: the text to translate or summarise")
    decoding = decoding_of(r)
    if decoding != "sampling" and (r.temperature is not None or r.top_p is not None):
        raise GenforgeError("temperature and top_p apply to decoding 'sampling' only")
    if r.num_beams is not None and decoding != "beams":
        raise GenforgeError("num_beams applies to decoding 'beams' only")
    if r.n > 1 and decoding != "sampling":
        raise GenforgeError("several outputs of one text differ only when sampling: "
                            "use decoding 'sampling' or n 1")  # fmt: skip
    if r.watermark and not model.pipe.watermarks:
        raise GenforgeError(f"{model.pipe.model_name} runs decode without watermarks")


def sample_pairs(model: _LockedPairs, requests: list[Request]) -> list[list[Any]]:
    """Output j of a request uses seed + j (as `genforge translate --seed`)."""
    with model.lock:
        return [
            [PairOut(model.pipe.translate([r.prompt or ""], pair_decode(r, r.seed + j),
                                          watermark=bool(r.watermark))[0], r.seed + j)
             for j in range(r.n)]
            for r in requests
        ]  # fmt: skip


def encode_pair(out: PairOut, params: dict[str, Any], oid: str) -> Encoded:
    """One output -> UTF-8 text (the source is the request's prompt, in params)."""
    params["sample_seed"] = out.seed
    return Encoded(out.text.encode("utf-8"), "text/plain; charset=utf-8", "txt", None,
                   bool(params.get("watermark")), preview=out.text)  # fmt: skip


# -- table ----------------------------------------------------------------------------------


def _load_table(run: Run, device: str):
    from genforge.generate.table import TablePipeline

    return TablePipeline(run, device=device)


@dataclass
class RowsOut:
    """A request's rows and what the encoder records with them (the best-of scores)."""

    frame: Any  # pandas DataFrame
    extra: dict[str, Any] = field(default_factory=dict)


def gate_of(pipe, gate: str | None, build: Callable[[Any, str], Any]):
    """The audio or table gate of kind `gate` (auto, learned or both) for a loaded pipeline,
    built by `build(pipe, gate)` on first use and kept with the pipeline."""
    gate = gate or "auto"
    with _SCORER_LOCK:
        gates = pipe.__dict__.setdefault("_genforge_gates", {})
        if gate not in gates:
            gates[gate] = build(pipe, gate)
        return gates[gate]


def best_of_groups(scored, k: int) -> tuple[list[int], dict[int, list[str]]]:
    """Of every `k` consecutive candidates (a gate's Scored), the best: the best-scored within
    the hard limits, else the best-scored of all; and why each pick breaks a limit, if it does
    (a request always gets its `n` outputs, as image best-of does)."""
    picks, broken = [], {}
    for g in range(0, len(scored.score), k):
        group = range(g, min(g + k, len(scored.score)))
        best = max(group, key=lambda i: (not scored.rejected[i], float(scored.score[i])))
        picks.append(best)
        if scored.rejected[best]:
            broken[best] = scored.rejected[best]
    return picks, broken


def _check_gate(pipe, r: Request, build: Callable[[Any, str], Any]) -> None:
    """gate needs best_of; the gate is built here, outside the batch, on the first request."""
    if r.gate is not None and r.best_of is None:
        raise GenforgeError("gate chooses how best_of scores candidates; give best_of too")
    if r.best_of is not None:
        gate_of(pipe, r.gate, build)


def _table_gate(pipe, gate: str):
    from genforge.evaluate.table_gate import TableGate

    return TableGate(pipe, gate)


def _check_table(pipe, r: Request) -> None:
    _check_gate(pipe, r, _table_gate)


def sample_tables(pipe, requests: list[Request]) -> list[list[Any]]:
    """One DataFrame of `n` rows per request (rejection sampling makes batches uneven, so
    each request draws on its own seeded generator, exactly as `genforge sample` does); with
    best_of, `n * best_of` rows and the best of each group of best_of by the table gate."""
    out = []
    for r in requests:
        if r.best_of is None:
            out.append([RowsOut(pipe.sample(r.n, r.seed))])
            continue
        from genforge.data.table import fresh_ids

        gate = gate_of(pipe, r.gate, _table_gate)
        rows = pipe.sample(r.n * r.best_of, r.seed)
        scored = gate.score(rows)
        picks, broken = best_of_groups(scored, r.best_of)
        kept = rows.iloc[picks].reset_index(drop=True)
        for c in pipe.spec.columns:  # IDs numbered afresh over the rows kept
            if c["kind"] == "id":
                kept[c["name"]] = fresh_ids(c, len(kept))
        extra = {"scores": [round(float(scored.score[i]), 4) for i in picks],
                 "gate": ",".join(gate.components)}  # fmt: skip
        if broken:
            extra["over_limits"] = {str(picks.index(i)): why for i, why in broken.items()}
        out.append([RowsOut(kept, extra)])
    return out


def encode_table(out: RowsOut, params: dict[str, Any], oid: str) -> Encoded:
    """A request's rows -> one CSV output; the rows also go back inline as JSON records."""
    df = out.frame
    params.update(out.extra)
    rows = json.loads(df.to_json(orient="records"))
    params["columns"] = list(df.columns)
    return Encoded(df.to_csv(index=False).encode("utf-8"), "text/csv", "csv", None, False,
                   preview=rows)  # fmt: skip


# -- audio ----------------------------------------------------------------------------------


def _load_audio(run: Run, device: str):
    from genforge.generate.audio import AudioPipeline

    return AudioPipeline(run, device=device)


@dataclass
class ClipOut:
    """One clip, its sample rate and class, and what the encoder records (best-of score)."""

    wave: torch.Tensor  # (1, L)
    rate: int
    name: str | None
    extra: dict[str, Any] = field(default_factory=dict)


def _audio_gate(pipe, gate: str):
    from genforge.evaluate.audio_gate import AudioGate

    return AudioGate(pipe, gate)


def _check_audio(pipe, r: Request) -> None:
    pipe.labels_for(1, r.label)
    _check_gate(pipe, r, _audio_gate)


def sample_audio(pipe, requests: list[Request]) -> list[list[ClipOut]]:
    """Latents per request from its own seeded generator (as `AudioPipeline.sample(n, seed,
    label, repeat=best_of)` draws them), then one forward pass; with best_of, the best of each
    group of best_of by the audio gate. Each clip comes back with the sample rate."""
    zs, ys = [], []
    for r in requests:
        g = torch.Generator().manual_seed(r.seed)
        k = r.best_of or 1
        zs.append(pipe.model.latent(r.n * k, generator=g))
        y = pipe.labels_for(r.n, r.label)
        ys.append(y.repeat_interleave(k) if y is not None else None)
    z = torch.cat(zs).to(pipe.device)
    y = torch.cat(ys).to(pipe.device) if ys[0] is not None else None
    with torch.no_grad():
        waves = pipe.model.generate(z, y).float().cpu()
    names = list(pipe.spec.class_names)
    out, i = [], 0
    for r, labels in zip(requests, ys, strict=True):
        chunk = waves[i : i + r.n * (r.best_of or 1)]
        picks, extra = list(range(r.n)), [{} for _ in range(r.n)]
        if r.best_of is not None:
            gate = gate_of(pipe, r.gate, _audio_gate)
            scored = gate.score(chunk, labels)
            picks, broken = best_of_groups(scored, r.best_of)
            extra = [{"score": round(float(scored.score[p]), 4),
                      "gate": ",".join(gate.components),
                      **({"over_limits": broken[p]} if p in broken else {})}
                     for p in picks]  # fmt: skip
        out.append([
            ClipOut(chunk[p], pipe.sample_rate,
                    names[int(labels[p])] if labels is not None else None, e)
            for p, e in zip(picks, extra, strict=True)
        ])  # fmt: skip
        i += len(chunk)
    return out


def encode_audio(clip: ClipOut, params: dict[str, Any], oid: str) -> Encoded:
    """A clip -> a 16-bit PCM WAV; its spectrogram is drawn on request."""
    from genforge.core.audio import wav_bytes

    params["sample_rate"] = clip.rate
    if clip.name is not None:
        params["class"] = clip.name
    params.update(clip.extra)
    return Encoded(wav_bytes(clip.wave, clip.rate), "audio/wav", "wav", None, False)


# -- video ----------------------------------------------------------------------------------


def _load_video(run: Run, device: str):
    from genforge.generate.video import VideoPipeline

    return VideoPipeline(run, device=device)


def _check_video(pipe, r: Request) -> None:
    pipe.labels_for(1, r.label)


def sample_video(pipe, requests: list[Request]) -> list[list[Any]]:
    """Starting noise per request from its own seeded generator (as `VideoPipeline.sample`
    draws it), then one denoising pass for all; each clip comes back with the frame rate."""
    zs, ys = [], []
    for r in requests:
        zs.append(pipe.noise(r.n, torch.Generator().manual_seed(r.seed)))
        ys.append(pipe.labels_for(r.n, r.label))
    y = torch.cat(ys) if ys[0] is not None else None
    clips = pipe.denoise(torch.cat(zs), y)
    names = list(pipe.spec.class_names)
    out, i = [], 0
    for r, labels in zip(requests, ys, strict=True):
        out.append([(clips[i + j], pipe.fps, names[int(labels[j])] if labels is not None else None)
                    for j in range(r.n)])  # fmt: skip
        i += r.n
    return out


def encode_video(clip, params: dict[str, Any], oid: str) -> Encoded:
    """(clip (C, T, H, W), fps, class) -> an H.264 MP4 with `params` and the output id as its
    comment; the perceptual hashes of its first, middle and last frames are recorded (the
    middle one is the output's lookup hash). Frames of at least 256 px (a run trained at 256)
    carry the output id as the invisible image watermark, in every frame; it survives the MP4's
    H.264 at crf 12. Smaller clips are not watermarked: the 16 px moving digits, upscaled, are
    flat black, and the mark did not decode from them even uncompressed."""
    from genforge.core.images import phash, to_pil
    from genforge.core.video import clip_frames, mp4_bytes
    from genforge.safety.marking import mark_frames

    x, fps, name = clip
    frames = clip_frames(x, min_side=128)  # uint8 (T, H, W, 3), upscaled for players
    frames, marked = mark_frames(frames, oid)  # >= 256 px: the id in every frame
    keys = sorted({0, len(frames) // 2, len(frames) - 1})
    hashes = [phash(to_pil(frames[k])) for k in keys]
    params.update(fps=fps, frames=len(frames), keyframe_phashes=hashes)
    if name is not None:
        params["class"] = name
    return Encoded(mp4_bytes(frames, fps, {**params, "id": oid}), "video/mp4", "mp4",
                   hashes[len(hashes) // 2], marked)  # fmt: skip


IMAGE = ServeHandler(
    _load_image, sample_images, encode_image,
    ("n", "seed", "label", "sampler", "steps", "guidance", "truncation", "best_of", "gate",
     "attributes"),
    check=_check_image, run_controls=image_controls,
)  # fmt: skip
# text-to-image runs: a prompt, or a label (a caption index or text) as in training
CAPTIONED_IMAGE = ServeHandler(
    _load_image, sample_images, encode_image,
    ("n", "seed", "prompt", "label", "sampler", "steps", "eta", "guidance"),
    check=_check_image, run_controls=image_controls,
)  # fmt: skip
TEXT_CONTROLS = ("n", "seed", "prompt", "max_new_tokens", "decoding", "num_beams",
                 "temperature", "top_k", "top_p", "watermark")  # fmt: skip
TEXT = ServeHandler(_LockedText, sample_texts, encode_text, TEXT_CONTROLS, check=_check_text)
# a local causal LM folder (`genforge serve --model-dir`): loaded from its path, not a run
LOCAL_CAUSAL_LM = ServeHandler(LockedCausalLM, sample_texts, encode_text, TEXT_CONTROLS,
                               check=check_text_request)  # fmt: skip
# a local diffusers text-to-image folder (`genforge serve --model-dir`)
LOCAL_TEXT_TO_IMAGE = ServeHandler(LockedPipeline, sample_pipeline, encode_image,
                                   ("n", "seed", "prompt", "steps", "guidance"),
                                   check=check_pipeline_request)  # fmt: skip
TEXT_PAIR = ServeHandler(
    _LockedPairs, sample_pairs, encode_pair,
    ("n", "seed", "prompt", "max_new_tokens", "decoding", "num_beams", "temperature", "top_p",
     "watermark"),
    check=_check_pairs,
)  # fmt: skip
TABLE = ServeHandler(_load_table, sample_tables, encode_table, ("n", "seed", "best_of", "gate"),
                     check=_check_table, max_n="max_rows")  # fmt: skip
AUDIO = ServeHandler(
    _load_audio, sample_audio, encode_audio, ("n", "seed", "label", "best_of", "gate"),
    check=_check_audio,
)  # fmt: skip
VIDEO = ServeHandler(
    _load_video, sample_video, encode_video, ("n", "seed", "label"), check=_check_video,
    run_controls=lambda cfg: ("n", "seed", "label") if cfg["model_config"].get("conditional")
    else ("n", "seed"),
)  # fmt: skip

# Request fields a modality may refuse (anything not in its controls).
OPTIONAL_FIELDS = ("label", "truncation", "prompt", "steps", "max_new_tokens", "decoding",
                   "num_beams", "temperature", "top_k", "top_p", "watermark", "sampler",
                   "guidance", "eta", "best_of", "gate", "attributes")  # fmt: skip


def run_modality(run: Run) -> str:
    """The modality of a run: its model's registry entry says."""
    from genforge.models import modality_of

    return modality_of(run.read_config()).name


def served_modalities() -> dict[str, ServeHandler]:
    """Modality name -> its serve handler, for every modality that has one (GET /v1/info);
    modalities sharing a handler (image-pair serves through IMAGE) are listed once."""
    from genforge.data.modalities import MODALITIES

    out: dict[str, ServeHandler] = {}
    for name, m in MODALITIES.items():
        handler = m.handler("serve")
        if handler is not None and all(h is not handler for h in out.values()):
            out[name] = handler
    return out


_CONTROLS: dict[tuple[str, int], tuple[str, ...]] = {}


def run_controls(run: Run) -> tuple[str, ...]:
    """The request fields `run` takes (its modality's `run_controls`, else `controls`);
    remembered per config file version, as /v1/generate asks on every request."""
    try:
        key = (str(run.config_path), run.config_path.stat().st_mtime_ns)
    except OSError:
        raise GenforgeError(f"run '{run.name}' has no config") from None
    if key not in _CONTROLS:
        handler = serve_handler(run_modality(run))
        cfg = run.read_config()
        _CONTROLS[key] = handler.run_controls(cfg) if handler.run_controls else handler.controls
    return _CONTROLS[key]


def serve_handler(name: str) -> ServeHandler:
    """The serve handler of modality `name` (a one-line error when it has none)."""
    from genforge.data.modalities import get_modality

    handler = get_modality(name).handler("serve")
    if handler is None:
        raise GenforgeError(f"{name} runs are not served (no generate handler)")
    return handler
