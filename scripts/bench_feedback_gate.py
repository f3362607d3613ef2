"""Does a gate learned from ratings pick outputs a reviewer approves of more often?

Used by the "Feedback: the learned gate" benchmark (docs/benchmarks.md). No people here, so
the reviewer is simulated by a model genforge never sees: an RBF support-vector classifier
trained on all 1,797 8x8 scikit-learn digits (a different model family and input size from
genforge's domain network). It approves an image when it reads a digit with probability
>= `--approve` (a legible digit) and rejects it otherwise; with `--prefer 0,2,4,6,8` it also
wants the digit to be one of those (a taste the automatic gate cannot know).

Per seed:
1. `--ratings` samples of the run are drawn, written, recorded in a fresh provenance store and
   rated by the reviewer (thumbs up/down), exactly as ratings from the web UI would be;
2. `genforge gate fit`'s library call fits the learned gate on them (its CV AUC is reported);
3. on fresh seeds, `--n` x `--best-of` candidates are drawn, and each gate keeps the best of
   every `--best-of`: no gate (the first candidate), the automatic gate, the learned gate,
   and both; the reviewer then judges the kept images.
Prints one JSON object: per selector the reviewer's approval rate (mean and 95 % t-interval
over seeds) and the diversity of what was kept (classes the reviewer reads with at least a
quarter of their fair share, and the entropy of those classes in bits).

    python scripts/bench_feedback_gate.py --run bench-dcgan --seeds 5
    python scripts/bench_feedback_gate.py --run bench-lm --text --off-topic my,your,me,you

With `--text`, the run is a language model and the reviewer the text rater of `text_judge`;
the selectors are the text gate's (`genforge generate text --best-of --gate`).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# Text sample j of a draw uses seed + j, so the text draws of different seeds lie this far
# apart (an image draw seeds one generator: 1000 + s and 5000 + s are independent)
SEEDS = 100_000


def reviewer():
    """The simulated reviewer: P(digit) from an SVC on 8x8 digits (0..16 scale)."""
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    d = load_digits()
    clf = SVC(C=10, gamma=0.001, probability=True, random_state=0).fit(d.data, d.target)

    def probs(images: torch.Tensor) -> np.ndarray:
        x = torch.nn.functional.adaptive_avg_pool2d((images[:, :1] + 1) / 2, 8)  # (n,1,8,8)
        return clf.predict_proba(x.reshape(len(x), -1).numpy() * 16)

    return probs


def t_interval(values: list[float]) -> list[float]:
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return [float(v.mean())] * 2
    h = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return [float(v.mean() - h), float(v.mean() + h)]


def diversity(pred: np.ndarray, k: int = 10) -> tuple[int, float]:
    counts = np.bincount(pred, minlength=k)
    share = counts / counts.sum()
    covered = int((share >= 0.25 / k).sum())
    nz = share[share > 0]
    return covered, float(-(nz * np.log2(nz)).sum())


def text_judge(off_topic: list[str]):
    """The simulated text rater: rejects a text with a repeated word 3-gram, fewer than 8
    words, or a word of `off_topic` (whole word, any case); approves the rest. Returns
    judge(texts) -> (verdicts, {distinct_1, distinct_2}) and a description."""
    import re

    from genforge.evaluate.text import distinct_n

    banned = [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) for w in off_topic]

    def one(text: str) -> bool:
        words = text.split()
        grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
        repeated = len(grams) != len(set(grams))
        return len(words) >= 8 and not repeated and not any(b.search(text) for b in banned)

    def judge(texts: list[str]) -> tuple[np.ndarray, dict]:
        ok = np.array([one(t) for t in texts])
        return ok, {"distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2)}

    return judge, f"rejects a repeated word 3-gram, fewer than 8 words, or any of {off_topic}"


def text_main(a) -> dict:
    """The text variant: the run's own sampled texts, rated by the text rater; the selectors
    are the text gate's (auto: fluency + repetition; learned; both)."""
    from genforge.core.run import resolve_run
    from genforge.evaluate.learned_gate import fit_gate
    from genforge.evaluate.text_gate import TextGate, best_texts
    from genforge.generate.text import DecodeOptions, TextPipeline
    from genforge.safety.feedback import FeedbackStore, Rating

    run = resolve_run(a.run)
    judge, who = text_judge([w for w in a.off_topic.split(",") if w])
    pipe = TextPipeline(run, device="cpu")

    def sample(n: int, seed: int) -> list[str]:
        opts = DecodeOptions(do_sample=True, num_return_sequences=n, seed=seed)
        return [g.text for g in pipe.generate([""], opts)[0]]

    selectors = ("none", "auto", "learned", "both")
    approval = {s: [] for s in selectors}
    div: dict[str, dict[str, list[float]]] = {s: {} for s in selectors}
    fits = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(a.seeds):
            texts = sample(a.ratings, SEEDS * (s + 1))
            ok = judge(texts)[0]
            store = FeedbackStore(Path(tmp) / f"ratings-{s}.sqlite")
            for i, t in enumerate(texts):
                oid = store.provenance.new_id()
                path = Path(tmp) / f"{s}-{i}.txt"
                path.write_text(t, encoding="utf-8")
                store.provenance.add(oid, who="reviewer", run=run.name, modality="text",
                                     params={"prompt": ""}, content=t.encode(), phash_hex=None,
                                     watermarked=False, path=str(path))  # fmt: skip
                store.rate(oid, "reviewer", Rating(thumb="up" if ok[i] else "down"))
            gate = fit_gate(run, store, seed=s, pipeline=pipe)
            fits.append({"cv_auc": gate.info["cv_auc"], "approved_share": float(ok.mean())})
            cand = sample(a.n * a.best_of, SEEDS * (s + 1) + SEEDS // 2)
            kept = {"none": cand[:: a.best_of]}
            for g in ("auto", "learned", "both"):
                best = best_texts(TextGate(pipe, g).score(cand), a.best_of, 0.0)
                kept[g] = [v.text if v is not None else cand[i * a.best_of]
                           for i, v in enumerate(best)]  # fmt: skip
            for sel, texts_kept in kept.items():
                ok_kept, d = judge(texts_kept)
                approval[sel].append(float(ok_kept.mean()))
                for k, x in d.items():
                    div[sel].setdefault(k, []).append(float(x))
    return {
        "run": run.name, "reviewer": who, "seeds": a.seeds, "ratings_per_seed": a.ratings,
        "kept_per_seed": a.n, "best_of": a.best_of, "gate_fits": fits,
        "approval": {s: {"mean": float(np.mean(v)), "ci95": t_interval(v), "per_seed": v}
                     for s, v in approval.items()},
        "diversity": {s: {k: float(np.mean(x)) for k, x in d.items()} for s, d in div.items()},
    }  # fmt: skip


def rate_and_fit(run, judge, n: int, seed: int, work: Path):
    """Draw `n` samples, record them, rate them by the reviewer, fit the learned gate."""
    from genforge.core.images import to_uint8
    from genforge.evaluate.learned_gate import fit_gate
    from genforge.generate.image import open_pipeline
    from genforge.safety.feedback import FeedbackStore, Rating
    from genforge.safety.marking import encode_png

    pipe = open_pipeline(run, "cpu")
    images = pipe.sample(n, seed=seed)
    ok = judge(images)[0]
    store = FeedbackStore(work / f"ratings-{seed}.sqlite")
    for i, img in enumerate(images):
        oid = store.provenance.new_id()
        png = encode_png(to_uint8(img), {"seed": seed, "index": i}, oid)
        path = work / f"{seed}-{i}.png"
        path.write_bytes(png.content)
        store.provenance.add(oid, who="reviewer", run=run.name, modality="image", params={},
                             content=png.content, phash_hex=png.phash, watermarked=False,
                             path=str(path))  # fmt: skip
        store.rate(oid, "reviewer", Rating(thumb="up" if ok[i] else "down"))
    return fit_gate(run, store, seed=seed), float(ok.mean())


def main() -> None:
    from genforge.core.run import resolve_run
    from genforge.evaluate.gate import QualityScorer, best_of_each
    from genforge.evaluate.image import ImageEvaluator
    from genforge.generate.image import open_pipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ratings", type=int, default=200)
    ap.add_argument("--n", type=int, default=200, help="kept images per selector and seed")
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--approve", type=float, default=0.9)
    ap.add_argument("--prefer", default=None, help="digits the reviewer wants, e.g. 0,2,4,6,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text", action="store_true", help="a text run, rated by the text rater")
    ap.add_argument("--off-topic", default="", help="comma-separated words the text rater rejects")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    if a.text:
        out = text_main(a)
        out["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(out, indent=1))
        return
    run = resolve_run(a.run)
    probs = reviewer()
    wanted = [int(c) for c in a.prefer.split(",")] if a.prefer else list(range(10))

    def judge(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The reviewer's verdicts (legible, and a wanted digit) and the digits it reads."""
        p = probs(images)
        return (p.max(1) >= a.approve) & np.isin(p.argmax(1), wanted), p.argmax(1)

    pipe = open_pipeline(run, "cpu")
    ev = ImageEvaluator(run, pipeline=pipe, device="cpu")
    selectors = ("none", "auto", "learned", "both")
    approval = {s: [] for s in selectors}
    covered = {s: [] for s in selectors}
    entropy = {s: [] for s in selectors}
    fits = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(a.seeds):
            gate, rated_rate = rate_and_fit(run, judge, a.ratings, 1000 + s, Path(tmp))
            fits.append({"cv_auc": gate.info["cv_auc"], "approved_share": rated_rate})
            cand = pipe.sample(a.n * a.best_of, seed=5000 + s)  # one generator per seed
            keep = {"none": torch.arange(a.n) * a.best_of}
            for g in ("auto", "learned", "both"):
                keep[g] = best_of_each(QualityScorer(ev, g), cand, None, a.best_of)[0]
            for sel, idx in keep.items():
                ok, digits = judge(cand[idx])
                approval[sel].append(float(ok.mean()))
                c, h = diversity(digits)
                covered[sel].append(c)
                entropy[sel].append(h)
    out = {
        "run": run.name,
        "reviewer": f"SVC on 8x8 digits, approves P(digit) >= {a.approve}, digits {wanted}",
        "seeds": a.seeds, "ratings_per_seed": a.ratings, "kept_per_seed": a.n,
        "best_of": a.best_of,
        "gate_fits": fits,
        "approval": {s: {"mean": float(np.mean(v)), "ci95": t_interval(v), "per_seed": v}
                     for s, v in approval.items()},
        "classes_covered": {s: float(np.mean(v)) for s, v in covered.items()},
        "class_entropy_bits": {s: float(np.mean(v)) for s, v in entropy.items()},
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
