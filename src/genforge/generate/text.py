"""Text decoding for text runs: transformers' `generate()` for GPT and LSTM (greedy, beams,
sampling, repetition controls, watermarking, streaming), a sampling loop for the n-gram model.

pipe = TextPipeline(resolve_run("my-gpt"))
outs = pipe.generate(["The quick brown fox"], DecodeOptions(num_beams=5, no_repeat_ngram_size=2))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.run import Run

DEFAULT_NEW_TOKENS = 100
WATERMARK_KEY = 15485863  # transformers' default hashing key


@dataclass
class DecodeOptions:
    """How to decode; the defaults are greedy decoding of up to 100 new tokens."""

    max_new_tokens: int | None = None  # None: max_length, else 100 (capped by the context)
    max_length: int | None = None  # prompt + new tokens, as in transformers
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_return_sequences: int = 1
    stop: tuple[str, ...] = ()  # cut the text at the first of these strings
    seed: int = 0
    watermark: bool = False
    watermark_key: int = WATERMARK_KEY
    truncate: bool = False  # cut a prompt longer than the context (keep its end)

    def check(self) -> None:
        """Reject values and combinations that cannot work, with one line each."""
        if self.temperature <= 0:
            raise GenforgeError(f"--temperature must be > 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise GenforgeError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_k is not None and self.top_k < 0:
            raise GenforgeError(f"--top-k must be >= 0, got {self.top_k}")
        if self.num_beams < 1 or self.num_return_sequences < 1:
            raise GenforgeError("--num-beams and --n must be at least 1")
        if self.repetition_penalty <= 0:
            raise GenforgeError(f"--repetition-penalty must be > 0, got {self.repetition_penalty}")
        if self.num_beams > 1 and self.do_sample:
            raise GenforgeError(
                "choose beam search (--num-beams) or sampling (--do-sample), not both"
            )
        if self.num_beams > 1 and self.num_return_sequences > self.num_beams:
            raise GenforgeError(
                f"--n {self.num_return_sequences} needs at least as many beams (--num-beams)"
            )
        if self.num_beams == 1 and not self.do_sample and self.num_return_sequences > 1:
            raise GenforgeError(
                "greedy decoding gives one text per prompt; use --do-sample or --num-beams for --n > 1"
            )
        if self.max_new_tokens is not None and self.max_length is not None:
            raise GenforgeError("give --max-new-tokens or --max-length, not both")
        if self.min_new_tokens < 0:
            raise GenforgeError("--min-new-tokens must be >= 0")


@dataclass
class Generated:
    prompt: str
    text: str  # the continuation only
    new_tokens: int
    seed: int | None  # the seed of this sample (sampling), None for greedy/beams
    score: float | None = None  # the text gate's score, when it picked this text


# ---------------------------------------------------------------------------------------
# Pieces handed to transformers' generate()
# ---------------------------------------------------------------------------------------


class StopOnStrings:
    """StoppingCriteria: stop a row once its generated text contains one of `stops`."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], prompt_len: int):
        self.tokenizer, self.stops, self.prompt_len = tokenizer, stops, prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        done = [
            any(s in self.tokenizer.decode(row[self.prompt_len :].tolist()) for s in self.stops)
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def make_streamer(tokenizer: Any, write: Callable[[str], None]) -> Any:
    """A transformers TextStreamer that hands finished text pieces to `write`."""
    from transformers import TextStreamer

    class _Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            write(text + ("\n" if stream_end else ""))

    return _Streamer(tokenizer.hf(), skip_prompt=True, skip_special_tokens=True)


def watermark_config(key: int = WATERMARK_KEY) -> Any:
    """Kirchenbauer et al. 2023 (arXiv:2301.10226) green-list watermark, transformers' defaults."""
    from transformers import WatermarkingConfig

    return WatermarkingConfig(bias=2.5, greenlist_ratio=0.25, context_width=1,
                              seeding_scheme="lefthash", hashing_key=key)  # fmt: skip


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    cuts = [text.index(s) for s in stops if s in text]
    return text[: min(cuts)] if cuts else text


# ---------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------


class Decoder:
    """Decoding of prompts with transformers' `generate()`: greedy, beams, sampling, repetition
    controls, stop strings, watermarking, streaming. Subclasses set `tokenizer` (`encode`,
    `decode`, `eos_id`, `hf()`), `hf` (the transformers causal LM), `device` and `context`."""

    tokenizer: Any
    hf: Any
    device: torch.device

    @property
    def context(self) -> int | None:
        """The model's context in tokens (None: unbounded)."""
        raise NotImplementedError

    @property
    def eos_ids(self) -> list[int]:
        """The token ids that end a text (the first also pads finished rows)."""
        return [self.tokenizer.eos_id]

    @property
    def start_id(self) -> int:
        """The token an empty prompt starts from."""
        return self.tokenizer.eos_id

    def prompt_ids(self, prompt: str, opts: DecodeOptions) -> list[int]:
        """Token ids of a prompt (end-of-text alone for an empty one), checked for length."""
        ids = self.tokenizer.encode(prompt) if prompt else []
        ids = ids if ids else [self.start_id]
        ctx = self.context
        if ctx is not None and len(ids) >= ctx:
            if not opts.truncate:
                raise GenforgeError(
                    f"the prompt is {len(ids)} tokens but the model's context is {ctx}; "
                    "shorten it, or pass --truncate to keep its last tokens"
                )
            ids = ids[-(ctx // 2) :]
        return ids

    def new_tokens(self, n_prompt: int, opts: DecodeOptions) -> int:
        if opts.max_new_tokens is not None:
            m = opts.max_new_tokens
        elif opts.max_length is not None:
            m = opts.max_length - n_prompt
            if m <= 0:
                raise GenforgeError(
                    f"--max-length {opts.max_length} leaves no room after the {n_prompt}-token prompt"
                )
        else:
            ctx = self.context
            m = DEFAULT_NEW_TOKENS if ctx is None else min(DEFAULT_NEW_TOKENS, ctx - n_prompt)
        ctx = self.context
        if ctx is not None and n_prompt + m > ctx:
            raise GenforgeError(
                f"prompt ({n_prompt} tokens) + {m} new tokens exceed the model's context of "
                f"{ctx} tokens; ask for at most {ctx - n_prompt} (--max-new-tokens)"
            )
        if m < 1:
            raise GenforgeError("asked for no new tokens (--max-new-tokens must be >= 1)")
        return m

    def complete(self, prompt: str = "", **options: Any) -> str:
        """One continuation of `prompt`; `options` are DecodeOptions fields (do_sample=True, ...)."""
        return self.generate([prompt], DecodeOptions(**options))[0][0].text

    def generate(
        self,
        prompts: list[str],
        opts: DecodeOptions,
        stream: Callable[[str], None] | None = None,
    ) -> list[list[Generated]]:
        """Continuations of each prompt: `opts.num_return_sequences` per prompt.

        Each sampled text j of prompt i uses seed `opts.seed + 1000 * i + j`, so a text is the
        same whether it is streamed, batched or drawn alone.

        Args:
            stream: called with text pieces as tokens arrive (sampling and greedy only).
        """
        opts.check()
        if stream is not None and opts.num_beams > 1:
            raise GenforgeError(
                "beam search cannot stream: the best beam is known only at the end; drop --stream"
            )
        return [self.decode_one(i, p, opts, stream) for i, p in enumerate(prompts)]

    def decode_one(self, i: int, prompt: str, opts: DecodeOptions, stream: Any) -> list[Generated]:
        """The texts of prompt `i` (its seeds start at `opts.seed + 1000 * i`)."""
        return self._hf(i, prompt, opts, stream)

    def generate_kwargs(self, ids: list[int], m: int, opts: DecodeOptions) -> dict[str, Any]:
        """The arguments of transformers' `generate()` for `m` new tokens after the prompt
        `ids` (its GenerationConfig fields; an unset --top-k/--top-p filters nothing)."""
        from transformers import StoppingCriteriaList

        eos = self.eos_ids
        kwargs: dict[str, Any] = dict(
            max_new_tokens=m, min_new_tokens=min(opts.min_new_tokens, m),
            do_sample=opts.do_sample, num_beams=opts.num_beams,
            repetition_penalty=opts.repetition_penalty,
            no_repeat_ngram_size=opts.no_repeat_ngram_size,
            pad_token_id=eos[0], eos_token_id=eos[0] if len(eos) == 1 else eos,
        )  # fmt: skip
        if opts.do_sample:
            kwargs.update(temperature=opts.temperature, top_k=opts.top_k or 0,
                          top_p=opts.top_p if opts.top_p is not None else 1.0)  # fmt: skip
        if opts.stop:
            kwargs["stopping_criteria"] = StoppingCriteriaList(
                [StopOnStrings(self.tokenizer, opts.stop, len(ids))]
            )
        if opts.watermark:
            kwargs["watermarking_config"] = watermark_config(opts.watermark_key)
        return kwargs

    # -- transformers models -----------------------------------------------------------
    def _hf(self, i: int, prompt: str, opts: DecodeOptions, stream: Any) -> list[Generated]:
        ids = self.prompt_ids(prompt, opts)
        m = self.new_tokens(len(ids), opts)
        x = torch.tensor([ids], device=self.device)
        kwargs = self.generate_kwargs(ids, m, opts)
        kwargs["attention_mask"] = torch.ones_like(x)
        outs: list[tuple[torch.Tensor, int | None]] = []
        with torch.no_grad():
            if opts.num_beams > 1:
                seqs = self.hf.generate(x, num_return_sequences=opts.num_return_sequences, **kwargs)
                outs = [(s, None) for s in seqs]
            else:
                for j in range(opts.num_return_sequences):
                    seed = opts.seed + 1000 * i + j if opts.do_sample else None
                    if seed is not None:
                        torch.manual_seed(seed)
                    streamer = make_streamer(self.tokenizer, stream) if stream else None
                    seq = self.hf.generate(x, streamer=streamer, **kwargs)[0]
                    outs.append((seq, seed))
        return [self._result(prompt, s[len(ids) :].tolist(), seed, opts) for s, seed in outs]

    def _result(
        self, prompt: str, new: list[int], seed: int | None, opts: DecodeOptions
    ) -> Generated:
        ends = [k for k, t in enumerate(new) if t in self.eos_ids]
        if ends:  # end of text: the rest is padding
            new = new[: ends[0]]
        text = cut_at_stop(self.tokenizer.decode(new), opts.stop)
        return Generated(prompt, text, len(new), seed)


class TextPipeline(Decoder):
    """A text run ready to decode: its family with weights, its tokenizer, on `device`."""

    def __init__(self, run: Run, device: str = "cpu", model_dir: Path | None = None):
        """`model_dir`: weights other than the run's last (feedback/round-N/model)."""
        from genforge.core.hf import quiet_transformers
        from genforge.data.text import TextSpec
        from genforge.data.text_tokenizers import TextTokenizer
        from genforge.models import get_entry, modality_of, model_config

        quiet_transformers()
        cfg = run.read_config()
        if modality_of(cfg).name != "text":
            raise GenforgeError(
                f"run '{run.name}' is a {modality_of(cfg).name} run ({cfg['model']}); "
                "this needs a text run"
            )
        if run.read_meta() is None:
            raise GenforgeError(f"run '{run.name}' has no checkpoint yet")
        self.run, self.cfg = run, cfg
        self.spec = TextSpec.from_dict(cfg["spec"])
        model_dir = model_dir or run.model_dir
        self.tokenizer = TextTokenizer.load(model_dir)
        if self.spec.tokenizer_sha and self.tokenizer.sha != self.spec.tokenizer_sha:
            raise GenforgeError(
                f"tokenizer mismatch: {model_dir / 'tokenizer.json'} is not the tokenizer "
                f"run '{run.name}' was trained with"
            )
        entry = get_entry(cfg["model"])
        config = model_config(cfg["model"], cfg["model_config"])
        self.model = entry.family.from_run(config, self.spec, model_dir)
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                                   else "cpu" if device == "auto" else device)  # fmt: skip
        self.model.to(self.device)
        self.hf = self.model.hf_model() if not self.model.count_based else None

    @property
    def context(self) -> int | None:
        return self.model.context

    def decode_one(self, i: int, prompt: str, opts: DecodeOptions, stream: Any) -> list[Generated]:
        if self.model.count_based:
            return self._ngram(i, prompt, opts, stream)
        return super().decode_one(i, prompt, opts, stream)

    # -- n-gram ------------------------------------------------------------------------
    def _ngram(self, i: int, prompt: str, opts: DecodeOptions, stream: Any) -> list[Generated]:
        unsupported = {
            "--num-beams": opts.num_beams > 1, "--watermark": opts.watermark,
            "--no-repeat-ngram-size": opts.no_repeat_ngram_size > 0,
            "--repetition-penalty": opts.repetition_penalty != 1.0,
        }  # fmt: skip
        bad = [k for k, v in unsupported.items() if v]
        if bad:
            raise GenforgeError(
                f"{', '.join(bad)}: the n-gram model decodes greedily or samples with "
                "--temperature/--top-k/--top-p; use a gpt or lstm run for the rest"
            )
        ids = self.prompt_ids(prompt, opts)
        m = self.new_tokens(len(ids), opts)
        results = []
        for j in range(opts.num_return_sequences):
            seed = opts.seed + 1000 * i + j if opts.do_sample else None
            rng = np.random.default_rng(seed)
            hist, new = list(ids), []
            for t in range(m):
                p = self.model.distribution(hist)
                if t < opts.min_new_tokens:
                    p[self.tokenizer.eos_id] = 0.0
                tok = sample_from(p, opts, rng) if opts.do_sample else int(np.argmax(p))
                if tok == self.tokenizer.eos_id:
                    break
                hist.append(tok)
                new.append(tok)
                if stream:
                    stream(self.tokenizer.decode([tok]))
                if opts.stop and any(s in self.tokenizer.decode(new) for s in opts.stop):
                    break
            if stream:
                stream("\n")
            results.append(self._result(prompt, new, seed, opts))
        return results


def sample_from(p: np.ndarray, opts: DecodeOptions, rng: np.random.Generator) -> int:
    """Draw from probabilities `p` with temperature, then top-k, then nucleus (top-p)."""
    logp = np.log(np.maximum(p, 1e-300)) / opts.temperature
    q = np.exp(logp - logp.max())
    if opts.top_k:
        kth = np.sort(q)[-min(opts.top_k, len(q))]
        q = np.where(q >= kth, q, 0.0)
    q /= q.sum()
    if opts.top_p is not None and opts.top_p < 1:
        order = np.argsort(-q)
        keep = np.cumsum(q[order]) - q[order] < opts.top_p  # always keeps the top token
        mask = np.zeros_like(q, dtype=bool)
        mask[order[keep]] = True
        q = np.where(mask, q, 0.0)
        q /= q.sum()
    return int(rng.choice(len(q), p=q))


# ---------------------------------------------------------------------------------------
# Watermark detection
# ---------------------------------------------------------------------------------------


def detect_watermark(pipe: TextPipeline, text: str, key: int = WATERMARK_KEY) -> dict[str, float]:
    """z-score and p-value that `text` carries the green-list watermark of `pipe`'s model.

    Returns:
        {"z_score", "p_value", "green_fraction", "tokens_scored", "watermarked" (0/1 at z > 4)}.
    """
    from transformers import WatermarkDetector

    if pipe.hf is None:
        raise GenforgeError("watermarks need a gpt or lstm run (the n-gram model has none)")
    ids = [pipe.tokenizer.eos_id, *pipe.tokenizer.encode(text)]
    if len(ids) < 3:
        raise GenforgeError("the text is too short to test for a watermark")
    # Each distinct (previous token, token) pair is scored once: a low-entropy model repeats
    # pairs, and counting every repeat breaks the independence the z-test assumes (with repeats
    # counted, 2 of 8 unwatermarked char-model samples scored z > 4).
    detector = WatermarkDetector(model_config=pipe.hf.config, device=str(pipe.device),
                                 watermarking_config=watermark_config(key),
                                 ignore_repeated_ngrams=True)  # fmt: skip
    out = detector(torch.tensor([ids], device=pipe.device), z_threshold=4.0, return_dict=True)
    return {
        "z_score": float(out.z_score[0]),
        "p_value": float(out.p_value[0]),
        "green_fraction": float(out.green_fraction[0]),
        "tokens_scored": float(out.num_tokens_scored[0]),
        "watermarked": float(bool(out.prediction[0])),
    }
