"""Was this file generated? One verdict per file (an image, a clip or a text), with every piece
of evidence behind it.

Evidence, strongest first; the first piece that says "generated" or "real" decides:

1. genforge's own marks: the exact bytes of a recorded output (sha256), an output id in the
   invisible watermark, the text green-list watermark of a run (`model`, a z-test), a
   perceptual-hash match in the provenance store (re-encoded or resized copies), and last the
   `genforge` PNG chunk, a claim that is easy to forge or strip. Marks only ever say
   "generated": a file without them may still be generated, by anything else.
2. a trained real-vs-generated detector (`detector`, models/detector.py): P(generated), with
   the threshold and the error rates its evaluation measured on held-out images.
3. for text, zero-shot scores from local LMs (evaluate/zeroshot.py): reported with the models
   named; they decide only with a `text_threshold` measured on your kind of text.

Beside those, a file within the perceptual distance of a work on the opt-out list is flagged.
Nothing here claims certainty: no evidence means "unknown".
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genforge.core.errors import GenforgeError
from genforge.core.images import hamming, phash
from genforge.data.governance import PHASH_MAX_BITS, load_optout
from genforge.data.images import IMAGE_EXTENSIONS
from genforge.data.text import TEXT_EXTENSIONS

Verdict = Literal["generated", "real", "unknown"]
CLIP_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv")  # GIFs are judged as images
MAX_TEXT_CHARS = 200_000  # a longer text is judged on its first part (the models' context)


@dataclass
class Evidence:
    kind: (
        str  # sha256, watermark, text-watermark, phash, png-metadata, detector, zero-shot, opt-out
    )
    says: Verdict
    score: float | None  # P(generated)-like, where the evidence gives one
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "says": self.says, "score": self.score,
                "detail": self.detail, **self.data}  # fmt: skip


@dataclass
class Judgement:
    path: str
    verdict: Verdict
    score: float | None
    evidence: list[Evidence]
    error: str | None = None  # why the file could not be judged

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "verdict": self.verdict, "score": self.score,
             "evidence": [e.to_dict() for e in self.evidence]}  # fmt: skip
        if self.error is not None:
            d["error"] = self.error
        return d


@dataclass
class Judge:
    """What to judge with: the provenance store, and optional models (each loaded once)."""

    store: Any = None  # a safety.provenance.ProvenanceStore, or None
    detector: Any = None  # an evaluate.detector.DetectorScorer
    text_run: Any = None  # a generate.text.TextPipeline (its green-list watermark)
    lm: Any = None  # evaluate.zeroshot.LocalLM
    lm2: Any = None
    text_threshold: float | None = None  # zero-shot: Binoculars (with lm2) or -log-likelihood
    optout: Any = field(default_factory=load_optout)

    def judge(self, content: bytes, name: str) -> Judgement:
        """The verdict on one file's bytes (`name` tells an image from a text by extension
        when it can; an unreadable file gets verdict "unknown" and `error`)."""
        try:
            kind = kind_of(name, content)
            if kind == "clip":
                evidence = self._clip_evidence(content)
            elif kind == "image":
                evidence = self._image_evidence(content, _open_image(content))
            else:
                evidence = self._text_evidence(content, name)
        except GenforgeError as e:
            return Judgement(name, "unknown", None, [], str(e))
        return decide(name, evidence)

    # -- images --------------------------------------------------------------------------------
    def _image_evidence(self, content: bytes, image: Any) -> list[Evidence]:
        found = self._marks(content, image)
        h = phash(image)
        found += self._optout(content, h)
        if self.detector is not None:
            found.append(self._detector(content))
        return found

    def _marks(self, content: bytes, image: Any) -> list[Evidence]:
        from genforge.core.images import read_png_params
        from genforge.safety.detect import detect

        found = []
        if self.store is not None:
            d = detect(content, self.store)
            if d.found and d.record is not None:
                found.append(_mark(d, self.store))
        params = read_png_params(io.BytesIO(content)) if image.format == "PNG" else {}
        if params.get("run") and not any(e.kind in ("sha256", "watermark") for e in found):
            found.append(Evidence(
                "png-metadata", "generated", None,
                f"the genforge PNG chunk names run {params['run']} (a claim: easy to forge or "
                "strip)", {"claimed": params},
            ))  # fmt: skip
        return found

    def _optout(self, content: bytes, h: str | None) -> list[Evidence]:
        if hashlib.sha256(content).hexdigest() in self.optout.sha256:
            return [
                Evidence("opt-out", "unknown", None, "an exact copy of a work on the opt-out list")
            ]
        if h is None or not self.optout.phash:
            return []
        bits = min(hamming(h, p) for p in self.optout.phash)
        if bits > PHASH_MAX_BITS:
            return []
        return [Evidence("opt-out", "unknown", None,
                         f"perceptually {bits}/64 bits from a work on the opt-out list "
                         f"({self.optout.path})", {"distance": bits})]  # fmt: skip

    def _detector(self, content: bytes) -> Evidence:
        from genforge.data.images import decode_image

        det = self.detector  # resized and center-cropped as its training images were
        x = decode_image(io.BytesIO(content), det.spec.size, det.spec.channels)[None]
        p = float(det.scores(x)[0])
        cal = (det.calibration() or {}).get("calibration")
        name = f"run {det.run.name}"
        if cal is None:
            return Evidence("detector", "unknown", p, f"{name}: P(generated) {p:.3f}, but the "
                            f"detector has not been evaluated (genforge eval {det.run.name}): "
                            "no threshold, no error rates", {"run": det.run.name})  # fmt: skip
        says: Verdict = "generated" if p > cal["threshold"] else "real"
        rates = {k: cal[k] for k in ("threshold", "target_fpr", "fpr", "fpr_ci", "tpr", "tpr_ci")}
        auc = (det.calibration() or {}).get("auc")
        return Evidence("detector", says, p,
                        f"{name}: P(generated) {p:.3f} vs threshold {cal['threshold']:.3f}; "
                        f"measured false-positive rate {cal['fpr']:.3f} (95 % CI "
                        f"{cal['fpr_ci'][0]:.3f}-{cal['fpr_ci'][1]:.3f}), generated caught "
                        f"{cal['tpr']:.3f}, held-out AUC {auc:.3f}",
                        {"run": det.run.name, "error_rates": {**rates, "auc": auc}})  # fmt: skip

    # -- clips ---------------------------------------------------------------------------------
    def _clip_evidence(self, content: bytes) -> list[Evidence]:
        """A clip (MP4, WebM): genforge's marks on its decoded key frames (the watermark every
        frame of a >= 256 px output carries, else their perceptual hashes); the detector and
        the opt-out list judge images only."""
        from genforge.safety.detect import detect, key_frames

        if self.store is None:
            key_frames(content)  # unreadable clips are reported as such
            return []
        d = detect(content, self.store)
        return [_mark(d, self.store)] if d.found and d.record is not None else []

    # -- text ----------------------------------------------------------------------------------
    def _text_evidence(self, content: bytes, name: str) -> list[Evidence]:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GenforgeError("neither an image nor UTF-8 text") from None
        if not text.strip():
            raise GenforgeError("empty text")
        text = text[:MAX_TEXT_CHARS]
        found = []
        if hashlib.sha256(content).hexdigest() in self.optout.sha256:
            found.append(
                Evidence("opt-out", "unknown", None, "an exact copy of a work on the opt-out list")
            )
        if self.text_run is not None:
            found.append(self._text_watermark(text))
        if self.lm is not None:
            found.append(self._zero_shot(text))
        return found

    def _text_watermark(self, text: str) -> Evidence:
        from genforge.generate.text import detect_watermark

        r = detect_watermark(self.text_run, text)
        run = self.text_run.run.name
        data = {"run": run, "z_score": r["z_score"], "p_value": r["p_value"],
                "tokens_scored": int(r["tokens_scored"])}  # fmt: skip
        detail = (f"green-list watermark of run {run}: z = {r['z_score']:.2f}, p = "
                  f"{r['p_value']:.2g} over {int(r['tokens_scored'])} tokens")  # fmt: skip
        if r["watermarked"]:
            return Evidence(
                "text-watermark", "generated", 1 - r["p_value"], detail + " (z > 4)", data
            )
        return Evidence("text-watermark", "unknown", None,
                        detail + ": no watermark (text from other sources carries none)", data)  # fmt: skip

    def _zero_shot(self, text: str) -> Evidence:
        from genforge.evaluate.zeroshot import zero_shot_scores

        s = zero_shot_scores(text, self.lm, self.lm2)
        key, value = ("binoculars", s["binoculars"]) if "binoculars" in s else (
            "neg_log_likelihood", -s["log_likelihood"])  # fmt: skip
        models = s["lm"] + (f" and {s['lm2']}" if "lm2" in s else "")
        detail = f"{key.replace('_', ' ')} {value:.3f} under {models} (lower: more machine-like)"
        if self.text_threshold is None:
            return Evidence("zero-shot", "unknown", None,
                            detail + "; no threshold given, so it decides nothing", s)  # fmt: skip
        says: Verdict = "generated" if value < self.text_threshold else "real"
        return Evidence("zero-shot", says, None,
                        detail + f"; threshold {self.text_threshold:g} (given, not measured here)",
                        {**s, "threshold": self.text_threshold})  # fmt: skip


# ---------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------

PRIORITY = ["sha256", "watermark", "text-watermark", "phash", "png-metadata", "detector",
            "zero-shot"]  # fmt: skip


def decide(path: str, evidence: list[Evidence]) -> Judgement:
    """The verdict of the strongest evidence that says something (see the module docstring)."""
    ranked = sorted(evidence, key=lambda e: PRIORITY.index(e.kind) if e.kind in PRIORITY else 99)
    for e in ranked:
        if e.says != "unknown":  # its score, else the next agreeing one that has a score
            agreeing = [x.score for x in ranked if x.says == e.says and x.score is not None]
            return Judgement(path, e.says, e.score if e.score is not None else
                             next(iter(agreeing), None), ranked)  # fmt: skip
    scores = [e.score for e in ranked if e.score is not None]
    return Judgement(path, "unknown", scores[0] if scores else None, ranked)


def _mark(d: Any, store: Any) -> Evidence:
    """Provenance-store evidence (safety/detect.py) with how likely a chance match is."""
    from genforge.safety.provenance import ID_BYTES

    r = d.record
    data = {"output": r.id, "run": r.run, "created": r.created}
    if d.evidence == "sha256":
        return Evidence("sha256", "generated", 1.0, f"the exact bytes of output {r.id} of run "
                        f"{r.run}", data)  # fmt: skip
    if d.evidence == "watermark":
        chance = store.count() / 2 ** (8 * ID_BYTES)  # a random id naming a stored output
        return Evidence("watermark", "generated", 1 - chance, f"invisible watermark names output "
                        f"{r.id} of run {r.run}", data)  # fmt: skip
    if d.evidence == "phash":
        # chance that an unrelated image's hash falls this close, if hash bits were fair coins
        # (real images are more alike than that: a near match is strong, not proof)
        p = sum(math.comb(64, k) for k in range(d.distance + 1)) / 2**64 * store.count()
        ties = f"; {d.ties} outputs equally close" if d.ties and d.ties > 1 else ""
        return Evidence("phash", "generated", 1 - min(1.0, p), f"perceptually {d.distance}/64 "
                        f"bits from output {r.id} of run {r.run} (a re-encoded or resized copy)"
                        f"{ties}", {**data, "distance": d.distance})  # fmt: skip
    return Evidence("png-metadata", "generated", None, f"the genforge PNG chunk names output "
                    f"{r.id} of run {r.run}, which the store knows (a claim)", data)  # fmt: skip


def kind_of(name: str, content: bytes) -> str:
    """Clip, image or text: by the file name's extension, else by what the bytes are."""
    from genforge.safety.detect import is_clip

    suffix = Path(name).suffix.lower()
    if suffix in CLIP_EXTENSIONS or is_clip(content):
        return "clip"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    return "image" if _looks_like_image(content) else "text"


def _looks_like_image(content: bytes) -> bool:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as im:
            im.verify()
        return True
    except Exception:  # PIL raises many kinds for non-images
        return False


def _open_image(content: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(content))
        im.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise GenforgeError(f"not a readable image ({type(e).__name__})") from None
    return im


def files_of(paths: Iterable[str | Path]) -> list[Path]:
    """The files to judge: each file given, and every visible file under each folder given.
    A path that does not exist is kept (it is reported as unreadable); an empty folder is a
    one-line error."""
    out = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(s.startswith(".") for s in f.relative_to(p).parts))  # fmt: skip
            if not found:
                raise GenforgeError(f"{p} is an empty folder: no files to judge")
            out += found
        else:
            out.append(p)
    return out


def judge_files(judge: Judge, paths: Iterable[str | Path]) -> list[Judgement]:
    """One judgement per file (`files_of`); unreadable files are judged "unknown" with why."""
    results = []
    for f in files_of(paths):
        try:
            content = f.read_bytes()
        except OSError as e:
            results.append(Judgement(str(f), "unknown", None, [], e.strerror or str(e)))
            continue
        j = judge.judge(content, f.name)
        j.path = str(f)
        results.append(j)
    return results
