"""Does one feedback round raise a reviewer's approval of fresh, ungated samples?

Used by the "Feedback: retraining from ratings" benchmark (docs/benchmarks.md). The reviewer is
simulated by a model genforge never sees (the same as in bench_feedback_gate.py):
- images: an RBF SVC on scikit-learn's 8x8 digits approves an image it reads as a digit with
  P >= `--approve` (and, with `--prefer 0,2,4,6,8`, only those digits);
- text (`--text`): a rater that rejects a text with a repeated word 3-gram, a word from
  `--off-topic`, or fewer than 8 words, and approves the rest.

Per seed, from copies of one trained run:
1. `--ratings` samples are drawn, recorded in the run's provenance store and rated up/down by
   the reviewer, as ratings from the web UI are stored;
2. **feedback**: one round, `genforge.api.feedback_round` (what `genforge train --resume RUN
   --feedback` runs), `--steps` more steps;
3. **control**: the same round on another copy with the ratings' term weighted 0
   (`feedback_weight=0`): the same steps, start and EMA restart, nothing learnt from ratings
   (`--control plain`: plain training steps instead);
4. the reviewer judges `--n` fresh, ungated samples of the base, the control and the
   feedback weights (same seeds for all three).
Prints one JSON object: approval per variant (mean, 95 % t-interval over seeds) and diversity
(images: classes the reviewer reads with at least a quarter of their fair share, their
entropy; text: distinct-1/2), plus the round's own before/after checks.

    python scripts/bench_feedback_round.py --run runs/bench-dcgan --seeds 3
    python scripts/bench_feedback_round.py --run runs/bench-lm --text --off-topic ... --seeds 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_feedback_gate import SEEDS, diversity, reviewer, t_interval, text_judge


def image_judge(approve: float, prefer: str | None):
    probs = reviewer()
    wanted = [int(c) for c in prefer.split(",")] if prefer else list(range(10))

    def judge(images: torch.Tensor) -> tuple[np.ndarray, dict]:
        p = probs(images)
        ok = (p.max(1) >= approve) & np.isin(p.argmax(1), wanted)
        covered, entropy = diversity(p.argmax(1))
        return ok, {"classes_covered": covered, "class_entropy_bits": entropy}

    return judge, f"SVC on 8x8 digits, approves P(digit) >= {approve}, digits {wanted}"


def draw(run, n: int, seed: int, text: bool, folder: Path | None = None) -> list:
    """n fresh, ungated samples of `run` (its last weights): images (n, C, H, W) or texts."""
    if text:
        from genforge.generate.text import DecodeOptions, TextPipeline

        pipe = TextPipeline(run, device="cpu")
        opts = DecodeOptions(do_sample=True, num_return_sequences=n, seed=seed)
        return [g.text for g in pipe.generate([""], opts)[0]]
    from genforge.generate.image import open_pipeline

    return open_pipeline(run, "cpu").sample(n, seed=seed)


def rate(runs: list, judge, n: int, seed: int, text: bool, work: Path) -> float:
    """Draw `n` samples of runs[0], record and rate them in the provenance store for every run
    of `runs` (copies of one run); the approved share."""
    from genforge.core.images import to_uint8
    from genforge.safety.feedback import FeedbackStore, Rating
    from genforge.safety.marking import encode_png
    from genforge.safety.provenance import default_db_path

    items = draw(runs[0], n, seed, text)
    ok = judge(items)[0]
    store = FeedbackStore(default_db_path(runs[0].path.parent))
    for (i, item), run in ((x, r) for x in enumerate(items) for r in runs):
        oid = store.provenance.new_id()
        if text:
            content, ph, path = item.encode(), None, work / f"{seed}-{i}.txt"
        else:
            png = encode_png(to_uint8(item), {"seed": seed, "index": i}, oid)
            content, ph, path = png.content, png.phash, work / f"{seed}-{i}.png"
        path = path.with_stem(f"{path.stem}-{run.name}")
        path.write_bytes(content)
        store.provenance.add(oid, who="reviewer", run=run.name, modality="text" if text else "image",
                             params={"prompt": ""} if text else {}, content=content, phash_hex=ph,
                             watermarked=False, path=str(path))  # fmt: skip
        store.rate(oid, "reviewer", Rating(thumb="up" if ok[i] else "down"))
    return float(ok.mean())


def main() -> None:
    from genforge.api import feedback_round, train_run
    from genforge.core.run import Run

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="a trained run folder (it is copied, not changed)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--ratings", type=int, default=200)
    ap.add_argument("--steps", type=int, default=300, help="steps of the round (and the control)")
    ap.add_argument("--n", type=int, default=500, help="fresh samples judged per variant")
    ap.add_argument("--approve", type=float, default=0.9)
    ap.add_argument("--prefer", default=None, help="digits the reviewer wants, e.g. 0,2,4,6,8")
    ap.add_argument("--text", action="store_true", help="a text run, judged by the text rater")
    ap.add_argument("--off-topic", default="", help="comma-separated words the text rater rejects")
    ap.add_argument(
        "--set", action="append", default=[], help="round options, e.g. feedback_weight=2"
    )
    ap.add_argument("--control", choices=("zero-weight", "plain"), default="zero-weight")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    base = Run(Path(a.run).resolve())
    judge, who = (text_judge([w for w in a.off_topic.split(",") if w]) if a.text
                  else image_judge(a.approve, a.prefer))  # fmt: skip
    options = {k: json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
               for k, v in (s.split("=", 1) for s in a.set)}  # fmt: skip
    variants = ("base", "control", "feedback")
    approval = {v: [] for v in variants}
    div: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    rounds, rated = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(a.seeds):
            runs = Path(tmp) / f"seed{s}"
            fb, plain = (Run(runs / n) for n in ("fb", "plain"))
            for r in (fb, plain):
                shutil.copytree(base.path, r.path, ignore=shutil.ignore_patterns("feedback"))
            (runs / "outputs").mkdir()
            first = SEEDS * (s + 1) if a.text else 1000 + s  # text sample j uses seed + j
            judged = SEEDS * (s + 1) + SEEDS // 2 if a.text else 7000 + s
            both = [fb, plain] if a.control == "zero-weight" else [fb]
            rated.append(rate(both, judge, a.ratings, first, a.text, runs / "outputs"))
            steps = base.step + a.steps
            rounds.append(feedback_round(fb, runs_dir=runs, steps=steps, seed=s, **options))
            if a.control == "plain":
                train_run(resume=plain.path, runs_dir=runs, steps=steps, seed=s)
            else:
                feedback_round(plain, runs_dir=runs, steps=steps, seed=s,
                               **{**options, "feedback_weight": 0})  # fmt: skip
            for v, r in zip(variants, (base, plain, fb), strict=True):
                ok, d = judge(draw(r, a.n, judged, a.text))
                approval[v].append(float(ok.mean()))
                for k, x in d.items():
                    div[v].setdefault(k, []).append(float(x))
    out = {
        "run": base.name, "reviewer": who, "seeds": a.seeds, "ratings_per_seed": a.ratings,
        "rated_up_share": rated, "round_steps": a.steps, "judged_per_variant": a.n,
        "control": a.control,
        "options": options,
        "approval": {v: {"mean": float(np.mean(x)), "ci95": t_interval(x), "per_seed": x}
                     for v, x in approval.items()},
        "diversity": {v: {k: float(np.mean(x)) for k, x in d.items()} for v, d in div.items()},
        "round_checks": [{"before": r["before"], "after": r["after"],
                          "diversity_fell": r["diversity_fell"]} for r in rounds],
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
