"""Metrics and the evaluator of text-to-text runs (translation, summarisation) on held-out
pairs.

scores = seq2seq_scores(sources, hypotheses, references, train_targets)
scores["bleu"], scores["chrf"], scores["rougeL"], scores["bleu_signature"], ...

BLEU and chrF are sacrebleu's corpus scores (their signatures are returned so a number can be
reproduced); ROUGE-1/2/L are rouge-score's F-measures (English stemming, averaged over pairs).
`copy_source_*` scores the baseline that outputs the source unchanged and `lead_*` the Lead
baseline of summarisation (the source's first sentence), each in BLEU, chrF and ROUGE; Lead is
scored only when at least half the sources have more than one sentence (for one-sentence
sources, such as names, it is copying again);
`copied_train_targets` counts outputs that repeat a training target verbatim (memorised rather
than translated).
"""

from __future__ import annotations

import html
import re
import weakref
from typing import Any

from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.evaluate.result import EvalResult, Metric, Section


class _UnicodeWords:
    """rouge-score's tokenizer interface, for text outside ASCII: lowercase \\w+ words (its
    default keeps only [a-z0-9], which would score Cyrillic or Greek outputs 0)."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", text.lower())


def _rouge(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measures: rouge-score's English tokenizer and Porter stemming when the
    references are ASCII, else Unicode words without stemming."""
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL")
    ascii_refs = all(r.isascii() for r in references)
    scorer = (rouge_scorer.RougeScorer(list(keys), use_stemmer=True) if ascii_refs
              else rouge_scorer.RougeScorer(list(keys), tokenizer=_UnicodeWords()))  # fmt: skip
    sums = dict.fromkeys(keys, 0.0)
    for h, r in zip(hypotheses, references, strict=True):
        for k, s in scorer.score(r, h).items():
            sums[k] += s.fmeasure
    out = {k: 100.0 * v / len(hypotheses) for k, v in sums.items()}
    out["rouge_tokens"] = "English words, Porter-stemmed" if ascii_refs else "Unicode words"
    return out


_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.S)


def lead(document: str) -> str:
    """The Lead-1 summary of `document`: its first sentence (up to the first . ! or ? that ends
    a word), or all of it when it has none (Nallapati et al. 2017's Lead-3, with one sentence,
    as the references here are one sentence)."""
    m = _FIRST_SENTENCE.match(document.strip())
    return m.group(1) if m else document.strip()


def bleu_chrf(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """Corpus BLEU and chrF (0-100) with sacrebleu's signatures."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(effective_order=True), CHRF()
    return {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def seq2seq_scores(
    sources: list[str],
    hypotheses: list[str],
    references: list[str],
    train_targets: list[str] | None = None,
) -> dict[str, Any]:
    """BLEU, chrF, ROUGE, exact match, length ratio, copy checks; see the module docstring."""
    if not (len(sources) == len(hypotheses) == len(references)) or not sources:
        raise GenforgeError("seq2seq scores need as many sources, outputs and references (>0)")
    out = bleu_chrf(hypotheses, references)
    out.update(_rouge(hypotheses, references))
    n = len(hypotheses)
    out["exact_match"] = (
        100.0 * sum(h.strip() == r.strip() for h, r in zip(hypotheses, references, strict=True)) / n
    )
    out["length_ratio"] = sum(len(h.split()) for h in hypotheses) / max(
        1, sum(len(r.split()) for r in references)
    )
    leads = [lead(x) for x in sources]
    baselines = [("copy_source", sources)]
    if 2 * sum(len(a) < len(x.strip()) for a, x in zip(leads, sources, strict=True)) >= n:
        baselines.append(("lead", leads))
    for name, baseline in baselines:
        b = bleu_chrf(baseline, references)
        b.update(_rouge(baseline, references))
        for k in ("bleu", "chrf", "rouge1", "rouge2", "rougeL"):
            out[f"{name}_{k}"] = b[k]
    seen = {t.strip() for t in train_targets or []}
    out["copied_train_targets"] = sum(
        h.strip() in seen and h.strip() != r.strip()
        for h, r in zip(hypotheses, references, strict=True)
    )
    out["n"] = n
    return out


# ---------------------------------------------------------------------------------------
# The evaluator of text-pair runs, and the --eval-every hook
# ---------------------------------------------------------------------------------------

# trainer -> its run's held-out (N, 2, L) pairs (dropped with the trainer)
_VAL_PAIRS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def training_metrics(trainer: Any, run: Run, n: int) -> dict[str, float]:
    """The `--eval-every` hook: mean teacher-forced cross-entropy (nats per target token) of
    the current network on up to `n` held-out pairs, the same ones every time."""
    from genforge.data.modalities import get_modality

    x = _VAL_PAIRS.get(trainer)
    if x is None:
        val = get_modality("text-pair").reload(run, tokenizer=trainer.model.tokenizer).val
        if not len(val):
            raise GenforgeError("--eval-every needs held-out pairs: the run's val_fraction is 0")
        x = val.images[:n]
        _VAL_PAIRS[trainer] = x
    model = trainer.model
    with trainer.accelerator.autocast():
        total, count = model.heldout_loss(x, net=trainer.nets[model.sampling_network()])
    return {"val_loss": total / max(count, 1)}


def evaluate_run(
    run: Run,
    *,
    n: int = 500,
    num_beams: int = 4,
    length_penalty: float = 1.0,
    max_new_tokens: int = 128,
    seed: int = 0,
    device: str = "cpu",
    progress: Stages | None = None,
) -> EvalResult:
    """Translate (or summarise) up to `n` held-out sources with beam search and score them
    against their references: BLEU and chrF (sacrebleu, signatures in the notes), ROUGE-1/2/L
    (rouge-score), exact match, length ratio, the copy-the-source baseline, outputs that repeat
    a training target verbatim, and the held-out teacher-forced loss."""
    from genforge.data.modalities import get_modality
    from genforge.generate.seq2seq import Seq2SeqPipeline
    from genforge.models.seq2seq import DecodeConfig

    st = progress or Stages.off()
    st.stage("reading the run's training and held-out pairs")
    pipe = Seq2SeqPipeline(run, device=device)
    split = get_modality("text-pair").reload(run, tokenizer=pipe.tokenizer)
    val = split.val.pairs[:n]
    if not val:
        raise GenforgeError(
            f"run '{run.name}' holds no pairs out (val_fraction 0): nothing to score"
        )
    decode = DecodeConfig(num_beams=num_beams, length_penalty=length_penalty,
                          max_new_tokens=max_new_tokens, seed=seed)  # fmt: skip
    st.stage(f"decoding {len(val)} held-out sources (beams {num_beams})")
    sources, refs = [s for s, _ in val], [t for _, t in val]
    hyps = pipe.translate(sources, decode)
    st.stage("BLEU, chrF, ROUGE and the copy baseline")
    s = seq2seq_scores(sources, hyps, refs, split.train.targets)
    nll, tokens = pipe.model.heldout_loss(split.val.images[:n].to(pipe.device))
    how = f"{len(val)} held-out pairs, beams {num_beams}, length penalty {length_penalty}"
    rouge_how = f"{how}; {s['rouge_tokens']}"
    metrics = [
        Metric("bleu", "BLEU (sacrebleu, corpus)", s["bleu"], "higher", s["bleu_signature"]),
        Metric("chrf", "chrF (sacrebleu, corpus)", s["chrf"], "higher", s["chrf_signature"]),
        Metric("rouge1", "ROUGE-1 F (rouge-score)", s["rouge1"], "higher", rouge_how),
        Metric("rouge2", "ROUGE-2 F (rouge-score)", s["rouge2"], "higher", rouge_how),
        Metric("rougeL", "ROUGE-L F (rouge-score)", s["rougeL"], "higher", rouge_how),
        Metric("exact_match", "exact match (%)", s["exact_match"], "higher", how),
        Metric("length_ratio", "length ratio (output words / reference words)",
               s["length_ratio"], None, "1.0 = as long as the references"),
        Metric("copy_source_bleu", "BLEU of copying the source (baseline)",
               s["copy_source_bleu"], None, "the output = the source, unchanged"),
        Metric("copy_source_chrf", "chrF of copying the source (baseline)",
               s["copy_source_chrf"], None, "the output = the source, unchanged"),
        *baseline_metrics(s),
        Metric("copied_train_targets", "outputs repeating a training target verbatim",
               float(s["copied_train_targets"]), "lower", "wrong outputs equal to a training target"),
        Metric("val_loss", "held-out loss (nats per target token, teacher-forced)",
               nll / max(tokens, 1), "lower", f"{tokens} target tokens"),
    ]  # fmt: skip
    sections = [Section("Held-out examples", _examples_html(sources, refs, hyps))]
    extra = {"examples": [{"source": a, "reference": b, "output": c}
                          for a, b, c in list(zip(sources, refs, hyps, strict=True))[:50]]}  # fmt: skip
    return EvalResult("text-pair", metrics, sections, extra)


BASELINE_NAMES = {"copy_source": ("copying the source", "the output = the source, unchanged"),
                  "lead": ("the source's first sentence (Lead baseline)",
                           "summarisation's Lead-1: the output = the first sentence")}  # fmt: skip
BASELINE_SCORES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}


def baseline_metrics(s: dict[str, Any]) -> list[Metric]:
    """ROUGE-1/2/L of copying the source, and BLEU, chrF, ROUGE-1/2/L of Lead (the copy
    baseline's BLEU and chrF are listed with the model's)."""
    out = []
    for prefix, (what, how) in BASELINE_NAMES.items():
        if f"{prefix}_rougeL" not in s:  # Lead of one-sentence sources: not scored
            continue
        scores = BASELINE_SCORES if prefix == "copy_source" else {
            "bleu": "BLEU", "chrf": "chrF", **BASELINE_SCORES}  # fmt: skip
        out += [Metric(f"{prefix}_{k}", f"{label} of {what}", s[f"{prefix}_{k}"], None, how)
                for k, label in scores.items()]  # fmt: skip
    return out


def _examples_html(sources: list[str], refs: list[str], hyps: list[str], k: int = 25) -> str:
    """The first `k` held-out pairs with the output and its sentence chrF, escaped."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    rows = "".join(
        f"<tr><td>{html.escape(s[:400])}</td><td>{html.escape(r[:400])}</td>"
        f"<td>{html.escape(h[:400])}</td>"
        f"<td class='num'>{chrf.sentence_score(h, [r]).score:.1f}</td></tr>"
        for s, r, h in list(zip(sources, refs, hyps, strict=True))[:k]
    )
    return ("<table><tr><th>source</th><th>reference</th><th>output</th><th>chrF</th></tr>"
            f"{rows}</table>")  # fmt: skip
