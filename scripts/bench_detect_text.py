"""How well zero-shot scores tell a genforge GPT's text from real text of the same corpus.

Used by the "Detecting generated content" benchmark (docs/benchmarks.md). The real texts are
chunks of `--chars` characters of the observer run's *held-out* documents (split exactly as
training split them); the generated ones are as many samples of the same length from the
observer run (temperature 1), drawn once without and once with the green-list watermark.
Each is scored by evaluate/zeroshot.py: log-likelihood and log-rank under the observer, and
Binoculars with `--performer` (a second run with the same tokenizer: same corpus and seed).
The watermark's z-score is scored too. Prints one JSON object: AUC per score and set.

    python scripts/bench_detect_text.py --observer bench-gpt --performer bench-gpt-small \
        --n 200 --chars 200
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np


def held_out_chunks(run, pipe, n: int, chars: int, seed: int) -> list[str]:
    """`n` non-overlapping chunks of `chars` characters of the run's held-out documents."""
    from genforge.data.modalities import get_modality

    split = get_modality("text").reload(run, tokenizer=pipe.tokenizer)
    chunks = [d[i : i + chars] for d in split.val.docs for i in range(0, len(d) - chars + 1, chars)]
    random.Random(seed).shuffle(chunks)
    if len(chunks) < n:
        raise SystemExit(f"only {len(chunks)} held-out chunks of {chars} characters; lower --n")
    return chunks[:n]


def main() -> None:
    from genforge.core.run import resolve_run
    from genforge.evaluate.detector import auc
    from genforge.evaluate.zeroshot import load_lm, zero_shot_scores
    from genforge.generate.text import DecodeOptions, TextPipeline, detect_watermark

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--observer", required=True, help="the genforge text run that generates")
    ap.add_argument("--performer", required=True, help="a second run, same tokenizer")
    ap.add_argument("--n", type=int, default=200, help="texts per set")
    ap.add_argument("--chars", type=int, default=200, help="characters per text")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs-dir", default=None)
    a = ap.parse_args()
    t0 = time.time()
    run = resolve_run(a.observer, a.runs_dir)
    pipe = TextPipeline(run)
    real = held_out_chunks(run, pipe, a.n, a.chars, a.seed)
    sets = {"real": real}
    for name, marked in (("generated", False), ("generated+watermark", True)):
        opts = DecodeOptions(do_sample=True, max_new_tokens=a.chars, min_new_tokens=a.chars,
                             num_return_sequences=a.n, seed=a.seed + 1, watermark=marked)  # fmt: skip
        sets[name] = [g.text for g in pipe.generate([""], opts)[0]]
    lm, lm2 = load_lm(a.observer, a.runs_dir), load_lm(a.performer, a.runs_dir)
    # each score oriented so that higher means "more machine-like"
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name, texts in sets.items():
        rows = [zero_shot_scores(t, lm, lm2) for t in texts]
        scores[name] = {
            "log_likelihood": np.array([r["log_likelihood"] for r in rows]),
            "neg_log_rank": np.array([-r["log_rank"] for r in rows]),
            "neg_binoculars": np.array([-r["binoculars"] for r in rows]),
            "watermark_z": np.array([detect_watermark(pipe, t)["z_score"] for t in texts]),
        }
    result = {
        "observer": lm.name, "performer": lm2.name, "n": a.n, "chars": a.chars,
        "auc": {gen: {k: round(auc(scores["real"][k], scores[gen][k]), 4) for k in scores[gen]}
                for gen in ("generated", "generated+watermark")},
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
