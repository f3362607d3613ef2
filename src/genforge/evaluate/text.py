"""Text evaluation: fluency on held-out text, diversity and repetition of samples, overlap with
references, memorization of the training corpus, and (optionally) watermark detection rates.

    perplexity        exp(mean NLL per token) on the held-out documents; per token of the
                      run's own tokenizer, so compare it only between runs with one tokenizer
    bits per char     total NLL in bits / characters of that text: comparable across tokenizers
    KN 5-gram bpc     the same on the same split, from an interpolated Kneser–Ney 5-gram
                      counted on the run's training documents (the baseline)
    distinct-1/2      unique / total word n-grams over all samples (Li et al. 2016)
    self-BLEU         mean BLEU-4 of each sample against the others (Zhu et al. 2018); high =
                      samples look alike
    rep-4             share of word 4-grams that repeat an earlier one in the same sample
    BLEU / ROUGE      against references (torchmetrics), when a reference file is given
    memorization      longest substring a sample shares with the training text; spans of
                      `memorization_chars` or more are flagged
"""

from __future__ import annotations

import html
import json
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.progress import Stages
from genforge.core.run import Run
from genforge.evaluate.result import EvalResult, Metric, Section

# ---------------------------------------------------------------------------------------
# Sample statistics (plain functions, tested directly)
# ---------------------------------------------------------------------------------------


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over `texts` (NaN when there are none)."""
    grams = [g for t in texts for g in _ngrams(t.split(), n)]
    return len(set(grams)) / len(grams) if grams else float("nan")


def repetition_rate(texts: list[str], n: int = 4) -> float:
    """Mean over texts of the share of word n-grams already seen earlier in the same text."""
    rates = []
    for t in texts:
        grams = _ngrams(t.split(), n)
        if grams:
            rates.append(1 - len(set(grams)) / len(grams))
    return float(np.mean(rates)) if rates else float("nan")


def self_bleu(texts: list[str]) -> float:
    """Mean BLEU-4 (smoothed, torchmetrics) of each text against all the others."""
    from torchmetrics.functional.text import bleu_score

    texts = [t for t in texts if t.split()]
    if len(texts) < 2:
        return float("nan")
    scores = [
        float(bleu_score([t], [texts[:i] + texts[i + 1 :]], n_gram=4, smooth=True))
        for i, t in enumerate(texts)
    ]
    return float(np.mean(scores))


def longest_shared_substring(sample: str, corpus: str) -> str:
    """The longest substring of `sample` that occurs in `corpus`.

    Grows a best length L and, at each start, tries L + 1 (each test is one fast `in` search),
    so it costs O(len(sample)) substring searches.
    """
    best, best_at = 0, 0
    for i in range(len(sample)):
        while i + best < len(sample) and sample[i : i + best + 1] in corpus:
            best, best_at = best + 1, i
    return sample[best_at : best_at + best]


# ---------------------------------------------------------------------------------------
# Held-out likelihood
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def heldout_nll(pipe: Any, ids: np.ndarray, window: int) -> tuple[float, int, int]:
    """Total NLL (nats), tokens scored and characters scored on the token stream `ids`.

    Non-overlapping windows of `window` + 1 tokens: each window's first token is context only,
    so every later token is predicted once from up to `window` tokens before it.
    """
    tok = pipe.tokenizer
    nll, n_tok, n_chars = 0.0, 0, 0
    model = pipe.model
    for s in range(0, len(ids) - 1, window):
        chunk = ids[s : s + window + 1]
        if len(chunk) < 2:
            break
        if model.count_based:
            full = ids[max(0, s - model.n + 1) : s + len(chunk)]
            lp = model.log2probs(full)[-(len(chunk) - 1) :] * math.log(2)
            nll -= float(lp.sum())
        else:
            x = torch.as_tensor(chunk, dtype=torch.long, device=pipe.device)[None]
            logits = model.logits(pipe.hf, x[:, :-1]).float()
            nll += float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum"))
        n_tok += len(chunk) - 1
        n_chars += len(tok.decode(chunk[1:].tolist()))
    return nll, n_tok, n_chars


def kn_baseline_bpc(train_ids: np.ndarray, val_ids: np.ndarray, pipe: Any, n: int = 5) -> float:
    """Bits per character of an interpolated KN n-gram counted on the training stream."""
    from genforge.models.ngram import NGram, NGramConfig

    model = NGram(NGramConfig(n=n), pipe.spec)
    model.fit(train_ids)
    bits = -float(model.log2probs(val_ids).sum())
    chars = len(pipe.tokenizer.decode(val_ids[1:].tolist()))
    return bits / max(chars, 1)


# ---------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------


def _load_split(run: Run, pipe: Any) -> tuple[Any, Any]:
    """The run's training and held-out documents, tokenized with the run's own tokenizer."""
    from genforge.data.modalities import get_modality

    split = get_modality("text").reload(run, tokenizer=pipe.tokenizer)
    return split.train, split.val


# trainer -> its run's held-out windows (dropped with the trainer)
_VAL_WINDOWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.no_grad()
def training_metrics(trainer: Any, run: Run, n: int) -> dict[str, float]:
    """The `--eval-every` hook of text runs: mean next-token cross-entropy (nats per token) of
    the current network on up to `n` non-overlapping held-out windows, the same ones every
    time (keys without the eval_ prefix; --keep-best val_loss keeps the best checkpoint)."""
    from genforge.data.modalities import get_modality

    windows = _VAL_WINDOWS.get(trainer)
    if windows is None:
        tokenizer = trainer.model.spec.tokenizer_obj or trainer.batches.dataset.tokenizer
        val = get_modality("text").reload(run, tokenizer=tokenizer).val
        if not val.tokens:
            raise GenforgeError("--eval-every needs held-out text: the run's val_fraction is 0")
        windows = val.eval_windows(n)
        _VAL_WINDOWS[trainer] = windows
    model, device = trainer.model, trainer.accelerator.device
    net = trainer.nets[model.sampling_network()]
    was_training = net.training
    net.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), trainer.cfg.batch_size):
        x = windows[i : i + trainer.cfg.batch_size].to(device)
        with trainer.accelerator.autocast():
            logits = model.logits(net, x[:, :-1])
        total += float(torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), x[:, 1:].flatten(), reduction="sum"))  # fmt: skip
        count += x[:, 1:].numel()
    net.train(was_training)
    return {"val_loss": total / count}


def _references(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, reference) pairs: .jsonl with "prompt"/"reference", or .txt lines whose first
    five words are the prompt."""
    p = Path(path)
    if not p.is_file():
        raise GenforgeError(f"no such reference file: {path}")
    pairs = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if p.suffix == ".jsonl":
            rec = json.loads(line)
            if "reference" not in rec:
                raise GenforgeError(f"{p.name}: each line needs a 'reference' (and a 'prompt')")
            pairs.append((rec.get("prompt", ""), rec["reference"]))
        else:
            words = line.split()
            pairs.append((" ".join(words[:5]) + " ", " ".join(words[5:])))
    return pairs


def evaluate_run(
    run: Run,
    *,
    n: int = 16,
    max_new_tokens: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    references: str | Path | None = None,
    memorization_chars: int = 50,
    max_eval_tokens: int = 50_000,
    baseline: bool = True,
    watermark: bool = False,
    device: str = "cpu",
    progress: Stages | None = None,
) -> EvalResult:
    """Evaluate a text run; see the module docstring for what each metric is.

    Args:
        n: unconditional samples drawn for diversity, repetition and memorization.
        max_new_tokens: length of each sample (capped by the model's context).
        references: .jsonl {"prompt", "reference"} or .txt (prompt = first five words) for
            BLEU/ROUGE.
        memorization_chars: flag samples sharing a span this long with the training text.
        max_eval_tokens: held-out tokens scored for perplexity / bits per char.
        baseline: also score an interpolated KN 5-gram on the same split.
        watermark: also measure watermark detection and false-positive rates.
        progress: where the stages of the work are reported (`core.progress.Stages`).
    """
    from genforge.generate.text import DecodeOptions, TextPipeline

    st = progress or Stages.off()
    st.stage("reading the run's training and held-out documents")
    pipe = TextPipeline(run, device=device)
    train, val = _load_split(run, pipe)
    metrics: list[Metric] = []
    sections: list[Section] = []
    extra: dict[str, Any] = {}
    tok_kind = pipe.tokenizer.describe()

    # (1) Fluency on held-out documents
    val_ids = val.stream_ids[:max_eval_tokens].astype(np.int64)
    window = pipe.context - 1 if pipe.context else pipe.spec.block_size
    split_note = f"{len(val.docs)} held-out documents ({val.split_how}), {len(val_ids)} tokens"
    if len(val_ids) >= 2:
        st.stage(f"held-out perplexity ({len(val_ids):,} tokens)")
        nll, n_tok, n_chars = heldout_nll(pipe, val_ids, window)
        ppl = math.exp(nll / n_tok)
        bpc = nll / math.log(2) / max(n_chars, 1)
    else:
        ppl = bpc = float("nan")
        split_note = "no held-out text (val_fraction 0)"
    metrics += [
        Metric("perplexity", f"perplexity per token ({tok_kind})", ppl, "lower", split_note),
        Metric("bits_per_char", "bits per character, held-out", bpc, "lower",
               "total NLL in bits / characters; comparable across tokenizers"),
    ]  # fmt: skip
    if baseline and len(val_ids) >= 2:
        st.stage("KN 5-gram baseline on the same split")
        kn = kn_baseline_bpc(train.stream_ids.astype(np.int64), val_ids, pipe)
        metrics.append(Metric("kn5_bits_per_char", "KN 5-gram bits per character (baseline)",
                              kn, "lower", "interpolated Kneser–Ney, same tokenizer and split"))  # fmt: skip

    # (2) Samples: diversity, repetition, memorization
    ctx = pipe.context
    m = max_new_tokens if ctx is None else min(max_new_tokens, ctx - 1)
    opts = DecodeOptions(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p,
                         max_new_tokens=m, num_return_sequences=n, seed=seed)  # fmt: skip
    st.stage(f"sampling {n} texts of up to {m} tokens")
    samples = [g.text for g in pipe.generate([""], opts)[0]]
    how = f"{n} samples of up to {m} tokens, temperature {temperature}, seed {seed}"
    metrics += [
        Metric("distinct_1", "distinct-1 (word unigrams)", distinct_n(samples, 1), "higher", how),
        Metric("distinct_2", "distinct-2 (word bigrams)", distinct_n(samples, 2), "higher", how),
        Metric("self_bleu", "self-BLEU-4 between samples", self_bleu(samples), "lower", how),
        Metric("rep_4", "rep-4 (repeated word 4-grams within a sample)",
               repetition_rate(samples, 4), "lower", how),
    ]  # fmt: skip
    st.stage("memorization: longest span each sample shares with the training text")
    corpus_text = "\n".join(train.docs)
    shared = [longest_shared_substring(s, corpus_text) for s in samples]
    lengths = [len(x) for x in shared]
    flagged = [(i, x) for i, x in enumerate(shared) if len(x) >= memorization_chars]
    metrics += [
        Metric("memorized_max_chars", "longest span shared with the training text (chars)",
               float(max(lengths, default=0)), "lower", how),
        Metric("memorized_share", f"samples sharing >= {memorization_chars} chars with training",
               len(flagged) / max(len(samples), 1), "lower", how),
    ]  # fmt: skip
    extra["memorized_spans"] = [{"sample": i, "span": x} for i, x in flagged]
    extra["samples"] = samples

    # (3) References
    if references is not None:
        st.stage("BLEU/ROUGE against the references")
        metrics += _reference_metrics(pipe, _references(references), m, seed)

    # (4) Watermark detection rates
    if watermark:
        st.stage("watermark detection and false-positive rates")
        metrics += _watermark_metrics(pipe, val.docs, m, seed, max(4, n // 2))

    rows = "".join(
        f"<tr><td class='num'>{i}</td><td><pre style='white-space:pre-wrap;margin:0'>"
        f"{html.escape(s[:600])}</pre></td><td class='num'>{lengths[i]}</td></tr>"
        for i, s in enumerate(samples[:8])
    )
    sections.append(Section("Samples", f"<table><tr><th>#</th><th>text</th><th>longest span "
                                       f"in training text</th></tr>{rows}</table>"))  # fmt: skip
    if flagged:
        items = "".join(
            f"<li>sample {i}: <code>{html.escape(x[:300])}</code></li>" for i, x in flagged
        )
        sections.append(Section("Memorized spans", f"<ul>{items}</ul>"))
    return EvalResult("text", metrics, sections, extra)


def _reference_metrics(pipe: Any, pairs: list[tuple[str, str]], m: int, seed: int) -> list[Metric]:
    from torchmetrics.functional.text import bleu_score
    from torchmetrics.text import ROUGEScore

    from genforge.generate.text import DecodeOptions

    if not pairs:
        raise GenforgeError("the reference file holds no references")
    hyps = []
    for prompt, _ in pairs:
        opts = DecodeOptions(seed=seed, no_repeat_ngram_size=3, truncate=True)
        n_prompt = len(pipe.prompt_ids(prompt, opts))
        room = m if pipe.context is None else min(m, pipe.context - n_prompt)
        opts.max_new_tokens = max(room, 1)
        hyps.append(pipe.generate([prompt], opts)[0][0].text)
    refs = [r for _, r in pairs]
    bleu = float(bleu_score(hyps, [[r] for r in refs], n_gram=4, smooth=True))
    rouge = ROUGEScore(rouge_keys=("rouge1", "rouge2", "rougeL"))(hyps, refs)
    how = f"{len(pairs)} references, greedy continuations (no-repeat 3-gram)"
    return [
        Metric("bleu", "BLEU-4 vs references (corpus, smoothed)", bleu, "higher", how),
        Metric(
            "rouge1", "ROUGE-1 F1 vs references", float(rouge["rouge1_fmeasure"]), "higher", how
        ),
        Metric(
            "rouge2", "ROUGE-2 F1 vs references", float(rouge["rouge2_fmeasure"]), "higher", how
        ),
        Metric(
            "rougeL", "ROUGE-L F1 vs references", float(rouge["rougeL_fmeasure"]), "higher", how
        ),
    ]


def _watermark_metrics(pipe: Any, human: list[str], m: int, seed: int, k: int) -> list[Metric]:
    """Detection rate on k watermarked samples; false positives on k plain and k human texts."""
    from genforge.generate.text import DecodeOptions, detect_watermark

    if pipe.hf is None:
        return []
    base = DecodeOptions(do_sample=True, max_new_tokens=m, min_new_tokens=m,
                         num_return_sequences=k, seed=seed + 77)  # fmt: skip
    marked = [
        g.text
        for g in pipe.generate([""], base.__class__(**{**base.__dict__, "watermark": True}))[0]
    ]
    plain = [g.text for g in pipe.generate([""], base)[0]]
    human = [h[: 4 * m] for h in human[:k]]

    def rate(texts: list[str]) -> float:
        hits = [detect_watermark(pipe, t)["watermarked"] for t in texts if len(t) > 2]
        return float(np.mean(hits)) if hits else float("nan")

    how = f"z > 4, {k} texts each of up to {m} tokens"
    return [
        Metric("watermark_detection", "watermark detected in watermarked samples", rate(marked), "higher", how),
        Metric("watermark_fpr_plain", "watermark false positives, unwatermarked samples", rate(plain), "lower", how),
        Metric("watermark_fpr_human", "watermark false positives, held-out human text", rate(human), "lower", how),
    ]  # fmt: skip
