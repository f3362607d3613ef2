"""Text-to-text runs (translation, summarisation) ready to decode.

pipe = Seq2SeqPipeline(run)
pipe.translate(["Germany", "France"], DecodeConfig(num_beams=4))
pipe.translate(texts, watermark=True)   # the green-list watermark of every text run
detect_pair_watermark(pipe, output)     # its z-score

Decoding goes through transformers' `generate` (beams with a length penalty, sampling, banned
words, a forced first token); the GRU baseline has its own greedy/beam/sampling loop.
"""

from __future__ import annotations

from typing import Any

import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run
from genforge.generate.text import WATERMARK_KEY, watermark_config
from genforge.models.seq2seq import DecodeConfig


class Seq2SeqPipeline:
    """A text-pair run's family with its weights and tokenizer, on `device`."""

    def __init__(self, run: Run, device: str = "cpu"):
        from genforge.data.text_pairs import PairSpec
        from genforge.models import get_entry, modality_of, model_config

        cfg = run.read_config()
        if modality_of(cfg).name != "text-pair":
            raise GenforgeError(
                f"run '{run.name}' is a {modality_of(cfg).name} run ({cfg['model']}); this "
                "needs a text-to-text run (genforge train seq2seq)"
            )
        if run.read_meta() is None:
            raise GenforgeError(f"run '{run.name}' has no checkpoint yet")
        self.run, self.cfg = run, cfg
        self.model_name = cfg["model"]
        spec = PairSpec.from_dict(cfg["spec"])
        config = model_config(cfg["model"], cfg["model_config"])
        self.model = get_entry(cfg["model"]).family.from_run(config, spec, run.model_dir)
        self.spec, self.tokenizer = self.model.spec, self.model.tokenizer
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                                   else "cpu" if device == "auto" else device)  # fmt: skip
        self.model.to(self.device)
        self.source_lang = cfg["data"].get("source_lang")
        self.target_lang = cfg["data"].get("target_lang")

    @property
    def watermarks(self) -> bool:
        """Whether this run's decoding can carry the text watermark (transformer runs)."""
        return hasattr(self.model, "generate_kwargs")

    def translate(self, texts: list[str], decode: DecodeConfig | None = None,
                  watermark: bool = False, key: int = WATERMARK_KEY) -> list[str]:  # fmt: skip
        """One output per input text; empty inputs are a one-line error."""
        if not texts:
            raise GenforgeError("nothing to translate: give at least one text")
        empty = [i for i, t in enumerate(texts, 1) if not t.strip()]
        if empty:
            raise GenforgeError(f"text {empty[0]} is empty; give a sentence or document")
        extra: dict[str, Any] = {}
        if watermark:
            if not self.watermarks:
                raise GenforgeError(f"{self.model_name} runs decode without watermarks")
            extra["watermarking_config"] = watermark_config(key)
        return self.model.translate(texts, decode, **extra)


def detect_pair_watermark(pipe: Seq2SeqPipeline, text: str, key: int = WATERMARK_KEY
                          ) -> dict[str, float]:  # fmt: skip
    """z-score and p-value that `text` (an output) carries the green-list watermark."""
    from transformers import WatermarkDetector

    if not pipe.watermarks:
        raise GenforgeError(f"{pipe.model_name} runs decode without watermarks")
    ids = [pipe.spec.pad_id, *pipe.tokenizer(text, add_special_tokens=False).input_ids]
    if len(ids) < 3:
        raise GenforgeError("the text is too short to test for a watermark")
    detector = WatermarkDetector(model_config=pipe.model.hf_model().config,
                                 device=str(pipe.device), watermarking_config=watermark_config(key),
                                 ignore_repeated_ngrams=True)  # fmt: skip
    out = detector(torch.tensor([ids], device=pipe.device), z_threshold=4.0, return_dict=True)
    return {
        "z_score": float(out.z_score[0]),
        "p_value": float(out.p_value[0]),
        "tokens_scored": float(out.num_tokens_scored[0]),
        "watermarked": float(bool(out.prediction[0])),
    }
