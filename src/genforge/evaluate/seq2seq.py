"""Metrics for text-to-text runs (translation, summarisation) on held-out pairs.

scores = seq2seq_scores(sources, hypotheses, references, train_targets)
scores["bleu"], scores["chrf"], scores["rougeL"], scores["bleu_signature"], ...

BLEU and chrF are sacrebleu's corpus scores (their signatures are returned so a number can be
reproduced); ROUGE-1/2/L are rouge-score's F-measures (English stemming, averaged over pairs).
`copy_source_*` scores the baseline that outputs the source unchanged; `copied_train_targets`
counts outputs that repeat a training target verbatim (memorised rather than translated).
"""

from __future__ import annotations

from typing import Any

from genforge.core.errors import GenforgeError


def _rouge(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    from rouge_score import rouge_scorer

    keys = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    sums = dict.fromkeys(keys, 0.0)
    for h, r in zip(hypotheses, references, strict=True):
        for k, s in scorer.score(r, h).items():
            sums[k] += s.fmeasure
    return {k: 100.0 * v / len(hypotheses) for k, v in sums.items()}


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
    copy = bleu_chrf(sources, references)
    out["copy_source_bleu"], out["copy_source_chrf"] = copy["bleu"], copy["chrf"]
    seen = {t.strip() for t in train_targets or []}
    out["copied_train_targets"] = sum(
        h.strip() in seen and h.strip() != r.strip()
        for h, r in zip(hypotheses, references, strict=True)
    )
    out["n"] = n
    return out
