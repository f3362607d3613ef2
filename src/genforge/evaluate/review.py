"""The review queue: draw a batch of outputs, put the ones the current gate is least sure
about first, and record people's verdicts on them.

A batch is drawn from the run (images: seeded samples; text: seeded sampled continuations;
audio: seeded clips; tables: seeded rows, each row its own output), each output written under
`<run>/samples/review-s<seed>/` and recorded in the provenance store like a served output, so
the gallery, the REST API and `genforge gate fit` all see it.

"Least sure" is measured by the gate that would judge the output today:
- the learned gate, when the run has one (`genforge gate fit`): P(approved) closest to 0.5;
- otherwise the automatic gate (image, audio and table runs): score closest to its default
  bar of 0.5;
- text runs without a learned gate have no score yet, and keep their drawing order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.io import write_bytes, write_text
from genforge.core.run import Run
from genforge.models import modality_of
from genforge.safety.provenance import ProvenanceStore

BAR = 0.5  # the automatic gate's default --min-score: the point of most doubt
MAX_BATCH = 512


@dataclass
class ReviewItem:
    id: str
    path: Path
    score: float | None  # the gate's score (P(approved) for the learned gate)
    gate: str | None  # which gate gave the score ("learned", "auto") or None
    text: str | None = None  # text runs: the output itself; table runs: the row

    @property
    def doubt(self) -> float:
        """0 when the gate cannot tell (score at the bar), 0.5 when it is sure."""
        return abs(self.score - BAR) if self.score is not None else 0.5


def draw_batch(
    run: Run,
    store: ProvenanceStore,
    n: int = 64,
    seed: int = 0,
    who: str = "local",
    device: str = "auto",
    prompt: str = "",
) -> list[ReviewItem]:
    """Draw `n` outputs of `run`, record them, and return them least sure first (ties keep
    the drawing order)."""
    if not 1 <= n <= MAX_BATCH:
        raise GenforgeError(f"--n must be between 1 and {MAX_BATCH}, got {n}")
    name = modality_of(run.read_config()).name
    if name not in BATCHES:
        raise GenforgeError(
            f"run '{run.name}' is a {name} run; review batches cover {', '.join(BATCHES)} runs "
            "(rate any served output over PUT /v1/outputs/{id}/rating)"
        )
    items = BATCHES[name](run, store, n, seed, who, device, prompt)
    return sorted(items, key=lambda it: it.doubt)  # stable: drawing order within ties


def _has_learned(run: Run) -> bool:
    from genforge.evaluate.learned_gate import GATE_DIR

    return (run.path / GATE_DIR / "learned.safetensors").is_file()


def _image_batch(run: Run, store: ProvenanceStore, n: int, seed: int, who: str, device: str,
                 prompt: str) -> list[ReviewItem]:  # fmt: skip
    from genforge.core.images import to_uint8
    from genforge.evaluate.gate import QualityScorer
    from genforge.evaluate.image import ImageEvaluator
    from genforge.generate.image import open_pipeline
    from genforge.safety.marking import encode_png

    pipe = open_pipeline(run, device)
    images = pipe.sample(n, seed=seed)
    labels = pipe.labels_for(n)
    gate = "learned" if _has_learned(run) else "auto"
    scorer = QualityScorer(ImageEvaluator(run, pipeline=pipe, device=device), gate)
    scores = scorer.score(images, labels)["score"]
    folder = run.samples_dir / f"review-s{seed}"
    records, items = [], []
    for i, (img, s) in enumerate(zip(images, scores, strict=True)):
        oid = store.new_id()
        params = {"run": run.name, "seed": seed, "index": i, "review": True, "gate": gate,
                  "score": round(float(s), 4)}  # fmt: skip
        if labels is not None:
            params["label"] = pipe.spec.class_names[int(labels[i])]
        png = encode_png(to_uint8(img), params, oid)
        path = folder / f"{i:03d}-{oid}.png"
        write_bytes(path, png.content)
        records.append(store.record(oid, who=who, run=run.name, modality="image", params=params,
                                    content=png.content, phash_hex=png.phash,
                                    watermarked=png.watermarked, path=str(path.resolve())))  # fmt: skip
        items.append(ReviewItem(oid, path, float(s), gate))
    store.add_many(records)
    return items


def _text_batch(run: Run, store: ProvenanceStore, n: int, seed: int, who: str, device: str,
                prompt: str) -> list[ReviewItem]:  # fmt: skip
    from genforge.generate.text import DecodeOptions, TextPipeline

    pipe = TextPipeline(run, device="cpu" if device == "auto" else device)
    opts = DecodeOptions(do_sample=True, num_return_sequences=n, seed=seed)  # <= 100 tokens
    texts = [g.text for g in pipe.generate([prompt], opts)[0]]
    scores: list[float | None] = [None] * n
    gate = None
    if _has_learned(run):
        from genforge.evaluate.learned_gate import LearnedGate, TextFeatures

        learned = LearnedGate.load(run)
        scores = learned.prob(TextFeatures(run, pipe).of_texts(texts)).tolist()
        gate = "learned"
    folder = run.samples_dir / f"review-s{seed}"
    records, items = [], []
    for i, (text, s) in enumerate(zip(texts, scores, strict=True)):
        oid = store.new_id()
        params: dict[str, Any] = {"run": run.name, "seed": seed + i, "index": i, "review": True, "prompt": prompt,
                                  "decoding": "sampling", "temperature": 1.0}  # fmt: skip
        if s is not None:
            params.update(gate=gate, score=round(float(s), 4))
        path = folder / f"{i:03d}-{oid}.txt"
        write_text(path, text)
        records.append(store.record(oid, who=who, run=run.name, modality="text", params=params,
                                    content=text.encode("utf-8"), phash_hex=None,
                                    watermarked=False, path=str(path.resolve())))  # fmt: skip
        items.append(ReviewItem(oid, path, s, gate if s is not None else None, text=text))
    store.add_many(records)
    return items


def _audio_batch(run: Run, store: ProvenanceStore, n: int, seed: int, who: str, device: str,
                 prompt: str) -> list[ReviewItem]:  # fmt: skip
    from genforge.core.audio import wav_bytes
    from genforge.evaluate.audio_gate import AudioGate
    from genforge.generate.audio import AudioPipeline

    pipe = AudioPipeline(run, device=device)
    waves, labels = pipe.sample(n, seed=seed)
    gate = "learned" if _has_learned(run) else "auto"
    scores = AudioGate(pipe, gate).score(waves, labels).score.tolist()
    names = list(pipe.spec.class_names)
    outputs = []
    for i, w in enumerate(waves):
        params: dict[str, Any] = {"sample_rate": pipe.sample_rate}
        if labels is not None:
            params["class"] = names[int(labels[i])]
        outputs.append((wav_bytes(w, pipe.sample_rate), params, None))
    return _save(run, store, seed, who, "audio", "wav", gate, outputs, scores)


def _table_batch(run: Run, store: ProvenanceStore, n: int, seed: int, who: str, device: str,
                 prompt: str) -> list[ReviewItem]:  # fmt: skip
    """Each row is one output (a one-row CSV), so each verdict is about one row."""
    from genforge.evaluate.table_gate import TableGate
    from genforge.generate.table import TablePipeline

    pipe = TablePipeline(run, device=device)
    rows = pipe.sample(n, seed)
    gate = "learned" if _has_learned(run) else "auto"
    scores = TableGate(pipe, gate).score(rows).score.tolist()
    outputs = []
    for i in range(len(rows)):
        row = rows.iloc[[i]]
        shown = ", ".join(f"{k}={v}" for k, v in row.iloc[0].items())
        outputs.append((row.to_csv(index=False).encode("utf-8"), {"columns": list(rows.columns)},
                        shown))  # fmt: skip
    return _save(run, store, seed, who, "table", "csv", gate, outputs, scores)


def _save(run: Run, store: ProvenanceStore, seed: int, who: str, modality: str, ext: str,
          gate: str, outputs: list[tuple[bytes, dict[str, Any], str | None]],
          scores: list[float]) -> list[ReviewItem]:  # fmt: skip
    """Write each (content, params, text shown) under samples/review-s<seed>/ and record it."""
    folder = run.samples_dir / f"review-s{seed}"
    records, items = [], []
    for i, ((content, extra, text), s) in enumerate(zip(outputs, scores, strict=True)):
        oid = store.new_id()
        params = {"run": run.name, "seed": seed, "index": i, "review": True, "gate": gate,
                  "score": round(float(s), 4), **extra}  # fmt: skip
        path = folder / f"{i:03d}-{oid}.{ext}"
        write_bytes(path, content)
        records.append(store.record(oid, who=who, run=run.name, modality=modality, params=params,
                                    content=content, phash_hex=None, watermarked=False,
                                    path=str(path.resolve())))  # fmt: skip
        items.append(ReviewItem(oid, path, float(s), gate, text=text))
    store.add_many(records)
    return items


# How each modality draws a review batch: (run, store, n, seed, who, device, prompt) -> items
BATCHES = {"image": _image_batch, "text": _text_batch, "audio": _audio_batch,
           "table": _table_batch}  # fmt: skip


def parse_verdict(answer: str) -> dict[str, Any] | None:
    """A typed verdict: u/d (thumb), 1-5 (score), or both ("u4", "d 1"); None to skip.
    Raises GenforgeError for anything else."""
    a = answer.strip().lower().replace(" ", "")
    if a in ("", "s"):
        return None
    out: dict[str, Any] = {}
    for ch in a:
        if ch in "ud" and "thumb" not in out:
            out["thumb"] = "up" if ch == "u" else "down"
        elif ch in "12345" and "score" not in out:
            out["score"] = int(ch)
        else:
            raise GenforgeError(
                f"not a verdict: {answer.strip()!r} (u, d, 1-5, both like u4, s to skip)"
            )
    return out
