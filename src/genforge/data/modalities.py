"""The kinds of data genforge learns from, in one table: `MODALITIES`.

Each entry (a `Modality`) declares, once:

- its data config (a dataclass whose defaults run) and its default, embedded data;
- how to load the data (`load`) and how to reload and split it exactly as training did
  (`load_split`, `reload`): the one place a run's data is read again, by the trainer on resume
  and by every evaluator;
- its spec type, the shape a model is built for (each spec type sits next to its loader);
- its units: what one training item is called and what throughput counts (images/s,
  tokens/s, rows/s, clips/s);
- its model-card section (data lines, samples, limits, usage);
- the handlers of the layers above `data`, by role: the pipeline `genforge.load` returns, the
  evaluator of `genforge eval`, the preview the trainer writes, the evaluation hook of
  `--eval-every`, the writer of `genforge sample` and the server's handler.

Handlers are named "module:attribute" rather than imported: `data` sits at the bottom of the
layers (data -> models -> train/generate -> evaluate -> serve/cli) and imports nothing above it,
so the table names its handlers and `Modality.handler(role)` imports one on first use. A test
resolves every name. Adding a modality is one entry here plus its files in each layer.

A model's registry entry (`genforge.models.MODELS`) names its modality; a run's config.yaml
records it under `modality` (runs written before that field existed are images).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from genforge.core.config import from_dict, to_dict
from genforge.core.errors import GenforgeError, unknown_choice
from genforge.data.audio import EMBEDDED_AUDIO, AudioDataConfig, AudioSpec, load_audio
from genforge.data.captions import CaptionedDataConfig, caption_dataset
from genforge.data.dataset import ImageDataConfig, ImageSpec, is_embedded, load_images
from genforge.data.domains import load_domains
from genforge.data.table import TableDataConfig, TableSpec, is_embedded_table, load_table
from genforge.data.text import (
    TextDataConfig,
    TextDataset,
    TextSpec,
    is_text_embedded,
    load_corpus,
    train_texts,
)
from genforge.data.text_pairs import (
    PairDataConfig,
    PairSpec,
    is_pairs_embedded,
    load_pair_dataset,
    pair_spec,
)
from genforge.data.text_tokenizers import make_tokenizer
from genforge.data.video import EMBEDDED_VIDEO, VideoDataConfig, VideoSpec, load_video

if TYPE_CHECKING:
    from genforge.core.run import Run

# The roles a modality's handlers play, and the signature each handler has.
ROLES = {
    "pipeline": "(run, device) -> a loaded pipeline (what genforge.load returns)",
    "evaluator": "(run, **options) -> EvalResult (genforge eval)",
    "preview": "(trainer, run, step, logger) -> None (samples/ every sample_every steps)",
    "train_eval": "(trainer, run, n) -> {metric: value} (--eval-every)",
    "sample": "(run, SampleOptions) -> None (genforge sample)",
    "serve": "a ServeHandler (genforge serve: load, sample, encode, controls)",
}

# Tasks a model family declares (`task` class attribute): what its runs are used for.
TASKS = (
    "sample",
    "translate",
    "upscale",
    "prompt",
    "attributes",
    "complete",
    "text-to-text",
    "detect",
    "predict",
)


@dataclass
class Split:
    """A modality's data loaded and split as training split it."""

    data_config: Any
    dataset: Any
    train: Any
    val: Any


class Modality:
    """One kind of data; subclasses fill in the class attributes and the methods that differ.

    Datasets of every modality work with the trainer's batching: `len()`, `in_memory`, `images`
    (a tensor whose first dimension indexes training items: images, token windows, waveforms,
    encoded rows), `labels` (None or (N,) int64), `stream` (a torch Dataset when not in memory),
    `num_classes`, plus `name`, `report` (with `to_dict()`) and `split(val_fraction, seed)`.
    """

    name: ClassVar[str]
    data_config: ClassVar[type]  # dataclass with a `source` field and the data options
    default_data: ClassVar[str]  # embedded source used when --data is not given
    item_name: ClassVar[str] = "items"  # one training item, for messages and cards
    unit: ClassVar[str] = "items"  # what throughput counts: images, tokens, rows, clips
    spec_type: ClassVar[type]
    handlers: ClassVar[dict[str, str]] = {}  # role -> "module:attribute"
    no_train_eval: ClassVar[str] = "evaluation during training is not available for {name} models"

    # -- data ----------------------------------------------------------------------------------
    def is_embedded(self, source: str) -> bool:
        """True when `source` names an embedded set rather than a path."""
        raise NotImplementedError

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        """Load the dataset described by data config `cfg`."""
        raise NotImplementedError

    def absolute(self, source: str) -> str:
        """`source` as config.yaml records it: embedded names as they are, paths absolute (so
        --resume and evaluation find the data from any working directory)."""
        return source if self.is_embedded(source) else str(Path(source).resolve())

    def data_config_of(self, data: dict[str, Any]) -> Any:
        """The data config from a config.yaml `data` section (which may hold resolved extras)."""
        keys = {f.name for f in dataclasses.fields(self.data_config)}
        return from_dict(self.data_config, {k: v for k, v in data.items() if k in keys})

    def load_split(self, cfg: dict[str, Any], **options: Any) -> Split:
        """A run's data (from its config.yaml as a dict) loaded and split as training split it:
        the same data config, the same seed."""
        data_cfg = self.data_config_of(cfg["data"])
        seed = int(cfg["train"].get("seed", 0))
        dataset = self.load(data_cfg, seed, **options)
        train, val = dataset.split(data_cfg.val_fraction, seed=seed)
        return Split(data_cfg, dataset, train, val)

    def reload(self, run: Run, **options: Any) -> Split:
        """`load_split` for a trained run, checked against the split sizes training recorded:
        files added or removed since would move items between the two sides."""
        try:
            split = self.load_split(run.read_config(), **options)
        except GenforgeError as e:
            raise GenforgeError(f"cannot reload the data of run '{run.name}': {e}") from None
        if run.data_report_path.exists():
            report = json.loads(run.data_report_path.read_text(encoding="utf-8"))
            then = (report.get("train"), report.get("val"))
            now = (len(split.train), len(split.val))
            if None not in then and then != now:
                raise GenforgeError(
                    f"the data of run '{run.name}' changed since training ({then[0]} training + "
                    f"{then[1]} held-out items then, {now[0]} + {now[1]} now); its "
                    "held-out split cannot be rebuilt"
                )
        return split

    def spec_of(self, dataset: Any) -> Any:
        """The spec (shape of the data) a model is built for; it has `to_dict()`."""
        raise NotImplementedError

    def spec_from_dict(self, d: dict[str, Any]) -> Any:
        return self.spec_type.from_dict(d)

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        """The `data` section of config.yaml: the config plus what the data fixed."""
        return to_dict(cfg)

    def resolve_train(self, cfg: Any, dataset: Any, train_cfg: Any) -> Any:
        """The training config once the data is known (tables turn --epochs into steps)."""
        return train_cfg

    def units_per_item(self, spec: Any) -> int:
        """Throughput units in one training item (tokens in a text window; else 1)."""
        return 1

    def split_sizes(self, split: Split) -> dict[str, Any]:
        """What the run's data report records of its split: the sizes of both sides (which
        `reload` checks) and anything the model card says of how the split was made."""
        return {"train": len(split.train), "val": len(split.val)}

    # -- handlers of the layers above ----------------------------------------------------------
    def handler(self, role: str) -> Any:
        """The handler playing `role` for this modality (see ROLES), or None when it has none."""
        if role not in ROLES:
            raise unknown_choice("handler role", role, ROLES)
        ref = self.handlers.get(role)
        if ref is None:
            return None
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    # -- model card (README.md) ----------------------------------------------------------------
    def describe(self, cfg: dict[str, Any]) -> str:
        """Short description of the data shape for the model card, e.g. '32×32, 1 channel'."""
        return ""

    def card_data(self, report: dict[str, Any]) -> list[str]:
        """Bullet lines of the card's Data section."""
        return [f"- {self.item_name}: train {report.get('train', '?')}, held-out val "
                f"{report.get('val', '?')}"]  # fmt: skip

    def card_samples(self) -> str:
        return "![samples](samples/latest.png)"

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- Training losses are not a quality measure; look at the samples and evaluate",
            "  against held-out data (`genforge eval`) before relying on the model.",
            f"- Trained on {report.get('train', '?')} {self.item_name} only; it knows nothing "
            "outside that data.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [f"genforge sample {run_name} --n 16 --seed 0"]


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------


class Image(Modality):
    """Images in [-1, 1], (N, C, H, W), from an embedded set or a folder (class subfolders
    become labels; `--attributes` adds per-image categorical attributes)."""

    name = "image"
    default_data = "digits"
    item_name = "images"
    unit = "images"
    data_config = ImageDataConfig
    spec_type = ImageSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.image:load_pipeline",
        "evaluator": "genforge.evaluate.image:evaluate_run",
        "preview": "genforge.train.previews:image_preview",
        "train_eval": "genforge.evaluate.image:training_metrics",
        "sample": "genforge.cli.sample:sample_images",
        "serve": "genforge.serve.handlers:IMAGE",
    }

    def is_embedded(self, source: str) -> bool:
        return is_embedded(source)

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        if cfg.domain_b:  # --domain-a/--domain-b (cyclegan, pix2pix)
            return load_domains(
                cfg.source, cfg.domain_b, cfg.image_size, cfg.channels, paired=cfg.paired,
                max_memory_bytes=cfg.memory_limit_mb * 2**20,
            )  # fmt: skip
        return load_images(
            cfg.source, cfg.image_size, cfg.channels, seed=seed,
            max_memory_bytes=cfg.memory_limit_mb * 2**20, attributes=cfg.attributes,
        )  # fmt: skip

    def spec_of(self, dataset: Any) -> Any:
        attrs = tuple((k, tuple(v)) for k, v in getattr(dataset, "attribute_values", {}).items())
        return self.spec_type(dataset.channels, dataset.image_size, dataset.num_classes,
                              tuple(dataset.class_names), attrs)  # fmt: skip

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        return {**to_dict(cfg), "image_size": dataset.image_size, "channels": dataset.channels}

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        ch = spec["channels"]
        return f"{spec['size']}×{spec['size']}, {ch} channel{'s' if ch > 1 else ''}"

    def card_data(self, report: dict[str, Any]) -> list[str]:
        classes = report.get("class_counts") or {}
        named = ", ".join(f"{k} ({v})" for k, v in classes.items()) if classes else "unlabeled"
        return [
            f"- images used: {report.get('num_images', '?')} "
            f"(train {report.get('train', '?')}, held-out val {report.get('val', '?')})",
            f"- classes: {named}",
            f"- skipped files: {len(report.get('skipped', []))}; exact duplicates removed: "
            f"{len(report.get('duplicates', []))}",
        ]

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- Training losses are not a quality measure (a GAN's losses say little about its samples);",
            "  look at the samples and evaluate against held-out data before relying on the model.",
            "- A generative model can reproduce its training images; audit samples before sharing them.",
            f"- Trained on {report.get('train', '?')} images only; it knows nothing outside that data.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        if task == "upscale":
            return [f"genforge upscale {run_name} --input small.png --out big.png"]
        if task == "detect":  # a real-vs-generated detector (models/detector.py)
            return [f"genforge detect photo.png --detector {run_name}", f"genforge eval {run_name}"]
        return [
            f"genforge sample {run_name} --n 64 --grid samples.png --seed 0",
            f"genforge sample {run_name} --interpolate 8 --frames 60 --out walk.gif",
        ]


class CaptionedImage(Image):
    """Images with one caption each (text-to-image): from `captions.jsonl` beside the images,
    or made from the class names. The captions become the class names (see data/captions.py)."""

    name = "captioned-image"
    data_config = CaptionedDataConfig
    handlers: ClassVar[dict[str, str]] = {
        **Image.handlers,
        "serve": "genforge.serve.handlers:CAPTIONED_IMAGE",
    }

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        return caption_dataset(super().load(cfg, seed), cfg.source, cfg.caption_template)

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f'genforge generate image --model {run_name} --prompt "<a caption>" --guidance 3 --n 8',
            *super().card_usage(run_name, task),
        ]


class ImagePair(Image):
    """Two image domains for translation (cyclegan, pix2pix): `--domain-a/--domain-b` folders
    (paired by file name for pix2pix), or the two class subfolders of `--data`."""

    name = "image-pair"
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.image:load_pipeline",
        "evaluator": "genforge.evaluate.translation:evaluate_run",
        "preview": "genforge.train.previews:image_preview",
        "sample": "genforge.cli.sample:sample_images",  # explains: genforge translate
        "serve": "genforge.serve.handlers:IMAGE",  # lists no controls for translation runs
    }
    no_train_eval = (
        "--eval-every measures sampled images; {model} translates images: evaluate it after "
        "training with genforge eval RUN (held-out translations)"
    )

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f"genforge translate {run_name} --input a.png --out b.png",
            f"genforge translate {run_name} --input b.png --out a.png --direction b2a",
        ]


# ---------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------


class Text(Modality):
    """Documents -> token windows (N, block_size + 1); previews are text files."""

    name = "text"
    default_data = "pydoc"
    item_name = "token windows"
    unit = "tokens"
    data_config = TextDataConfig
    spec_type = TextSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.text:TextPipeline",
        "evaluator": "genforge.evaluate.text:evaluate_run",
        "preview": "genforge.train.previews:text_preview",
        "train_eval": "genforge.evaluate.text:training_metrics",
        "sample": "genforge.cli.sample:sample_text",  # explains: genforge generate text
        "serve": "genforge.serve.handlers:TEXT",
    }

    def is_embedded(self, source: str) -> bool:
        return is_text_embedded(source)

    def load(self, cfg: Any, seed: int, tokenizer: Any = None, **options: Any) -> Any:
        """Token windows of the corpus; `tokenizer`: a trained run's own (else one is fitted)."""
        corpus = load_corpus(cfg, seed)
        if tokenizer is None:
            # The tokenizer learns from the training documents only (held-out text stays unseen).
            train_docs = train_texts(corpus.docs, cfg.val_fraction, seed, cfg.split)
            tokenizer = make_tokenizer(cfg.tokenizer, train_docs, cfg.vocab_size)
        return TextDataset.build(corpus, tokenizer, cfg.block_size, cfg.stride, cfg.sampling,
                                 cfg.split)  # fmt: skip

    def spec_of(self, dataset: Any) -> Any:
        tok = dataset.tokenizer
        return self.spec_type(tok.vocab_size, dataset.block_size, tok.kind, tok.eos_id, tok.sha,
                              tok)  # fmt: skip

    def units_per_item(self, spec: Any) -> int:
        return int(spec.block_size)

    def split_sizes(self, split: Split) -> dict[str, Any]:
        return {
            **super().split_sizes(split),
            "train_tokens": split.train.num_tokens,
            "val_tokens": split.val.num_tokens,
            "split_how": split.val.split_how,
            "val_fraction": split.data_config.val_fraction,
            "sampling": split.train.sampling,
            "block_size": split.train.block_size,
        }

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        return f"{spec['tokenizer']} tokenizer, {spec['vocab_size']} tokens, context {spec['block_size']}"

    def card_data(self, report: dict[str, Any]) -> list[str]:
        pii = ", ".join(f"{k} {v}" for k, v in report.get("pii_counts", {}).items() if v)
        return [
            f"- documents used: {report.get('num_documents', '?')} of "
            f"{report.get('num_documents_found', '?')} found; {report.get('num_chars', 0):,} "
            f"characters, {report.get('num_tokens', 0):,} tokens ({report.get('tokenizer', '?')})",
            *self._card_split(report),
            f"- duplicates dropped: {report.get('exact_duplicates', 0)} exact, "
            f"{report.get('near_duplicates', 0)} near; skipped: {len(report.get('skipped', []))}",
            f"- PII {'scrubbed' if report.get('pii_scrubbed', True) else 'found, NOT scrubbed'}: "
            f"{pii or 'none found'}",
        ]

    @staticmethod
    def _card_split(report: dict[str, Any]) -> list[str]:
        if "train_tokens" not in report:  # runs before genforge 0.2 recorded window counts only
            return [f"- token windows: train {report.get('train', '?')}, held-out val "
                    f"{report.get('val', '?')} (split by document)"]  # fmt: skip
        share = f"{report.get('val_fraction', 0):.0%}"
        how = {
            "tail": f"by position: the last {share} of each document is held out",
            "documents": f"by document: {share} of the documents, seeded, held out whole",
            "none": "no held-out text (val_fraction 0)",
        }.get(report.get("split_how", ""), report.get("split_how", "?"))
        windows = (
            f"each training window of {report.get('block_size', '?')} tokens starts at a random "
            "token (every position is a window start)"
            if report.get("sampling") == "random"
            else f"training windows are fixed, {report.get('train', '?')} of them, shuffled"
        )
        return [
            f"- split {how}: train {report['train_tokens']:,} tokens, held-out "
            f"{report.get('val_tokens', 0):,} tokens",
            f"- {windows}",
        ]

    def card_samples(self) -> str:
        return "Latest preview: [samples/latest.txt](samples/latest.txt)"

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- The training loss is a per-token cross-entropy on training windows; judge the model",
            "  by held-out bits per character against the KN n-gram baseline (`genforge eval`).",
            "- A language model can reproduce training text verbatim (names, numbers, code); the",
            "  evaluation's memorization audit flags long shared spans. PII scrubbing is pattern-",
            "  based and misses names and free-form personal details.",
            f"- Trained on {report.get('num_chars', 0):,} characters only; it knows nothing else.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f'genforge generate text {run_name} --prompt "The" --do-sample --top-p 0.9 --n 4',
            f'genforge generate text {run_name} --prompt "The" --num-beams 5 --no-repeat-ngram-size 2',
            f"genforge chat {run_name}",
        ]


# ---------------------------------------------------------------------------------------
# Text pairs (translation, summarisation)
# ---------------------------------------------------------------------------------------


class TextPair(Modality):
    """Sentence or document pairs -> (N, 2, L) token tensors (source, target); the held-out
    side never shares a source with training. Previews are held-out translations."""

    name = "text-pair"
    default_data = "country-names:en-de"
    item_name = "pairs"
    unit = "pairs"
    data_config = PairDataConfig
    spec_type = PairSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.seq2seq:Seq2SeqPipeline",
        "evaluator": "genforge.evaluate.seq2seq:evaluate_run",
        "preview": "genforge.train.previews:pair_preview",
        "train_eval": "genforge.evaluate.seq2seq:training_metrics",
        "sample": "genforge.cli.sample:sample_pairs",  # explains: genforge translate
        "serve": "genforge.serve.handlers:TEXT_PAIR",
    }

    def is_embedded(self, source: str) -> bool:
        return is_pairs_embedded(source)

    def absolute(self, source: str) -> str:
        """Both files of "src.txt,tgt.txt" made absolute; else as for every modality."""
        if "," in source and not Path(source).exists():
            return ",".join(str(Path(p.strip()).resolve()) for p in source.split(",", 1))
        return super().absolute(source)

    def load(self, cfg: Any, seed: int, tokenizer: Any = None, **options: Any) -> Any:
        """`tokenizer`: a trained run's own (else BPE is fitted on the training pairs)."""
        return load_pair_dataset(cfg, seed, tokenizer)

    def spec_of(self, dataset: Any) -> Any:
        return pair_spec(dataset.tokenizer, dataset.max_length, dataset.tokenizer_kind)

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        return {**to_dict(cfg), "source_lang": dataset.source_lang,
                "target_lang": dataset.target_lang}  # fmt: skip

    def describe(self, cfg: dict[str, Any]) -> str:
        spec, data = cfg["spec"], cfg["data"]
        langs = f"{data.get('source_lang') or '?'} → {data.get('target_lang') or '?'}, "
        return f"{langs}{spec['tokenizer']} tokenizer, {spec['vocab_size']} tokens"

    def card_data(self, report: dict[str, Any]) -> list[str]:
        dropped = report.get("dropped") or {}
        pii = ", ".join(f"{k} {v}" for k, v in (report.get("pii") or {}).items())
        return [
            f"- pairs read: {report.get('read', '?')}, kept {report.get('kept', '?')}; dropped: "
            + (", ".join(f"{n} {why}" for why, n in sorted(dropped.items())) or "none"),
            f"- split by unique source sentence: train {report.get('train', '?')} pairs, "
            f"held-out {report.get('val', '?')} (held-out sources also in training: "
            f"{report.get('val_sources_in_train', 0)})",
            f"- PII scrubbed: {pii or 'none found'}",
        ]

    def card_samples(self) -> str:
        return "Latest preview (held-out sources): [samples/latest.txt](samples/latest.txt)"

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- The training loss is a teacher-forced cross-entropy; judge the model by held-out",
            "  BLEU/chrF against copying the source unchanged (`genforge eval`).",
            "- It can repeat training targets verbatim instead of translating; the evaluation",
            "  counts such outputs.",
            f"- Trained on {report.get('train', '?')} pairs only; words it never saw come out as",
            "  guesses from their pieces.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f'genforge translate {run_name} --text "a sentence" --num-beams 4',
            f"genforge translate {run_name} --file in.txt --out out.txt",
            f"genforge summarize {run_name} --file document.txt",
            f"genforge eval {run_name}",
        ]


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


class Table(Modality):
    """Rows of a CSV or an embedded table, encoded for training (mode-specific normalisation
    of numbers, one-hot categories); previews are CSV files."""

    name = "table"
    default_data = "breast_cancer"
    item_name = "rows"
    unit = "rows"
    data_config = TableDataConfig
    spec_type = TableSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.table:TablePipeline",
        "evaluator": "genforge.evaluate.table:evaluate_run",
        "preview": "genforge.train.previews:table_preview",
        "sample": "genforge.cli.sample:sample_table",
        "serve": "genforge.serve.handlers:TABLE",
    }

    def is_embedded(self, source: str) -> bool:
        return is_embedded_table(source)

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        return load_table(cfg.source, tuple(cfg.constraints), cfg.target, seed=seed)

    def spec_of(self, dataset: Any) -> Any:
        return dataset.spec

    def resolved_data(self, cfg: Any, dataset: Any) -> dict[str, Any]:
        return {**to_dict(cfg), "target": dataset.report.target}

    def resolve_train(self, cfg: Any, dataset: Any, train_cfg: Any) -> Any:
        """Small tables: the batch size (CTGAN's default 500) is capped at the training rows,
        rounded down to a multiple of 10 (CTGAN's pac) when that leaves one; the config.yaml
        records the size used. --epochs E then sets steps = ceil(E * training rows / batch
        size): one step draws one batch (CTGAN's epoch is rows // batch_size steps)."""
        n_train = len(dataset) - round(len(dataset) * cfg.val_fraction)
        if train_cfg.batch_size > n_train:
            cap = n_train - n_train % 10 if n_train >= 10 else n_train
            train_cfg = dataclasses.replace(train_cfg, batch_size=cap)
        if cfg.epochs is None:
            return train_cfg
        if cfg.epochs < 1:
            raise GenforgeError(f"--epochs must be at least 1, got {cfg.epochs}")
        steps = max(1, math.ceil(cfg.epochs * n_train / train_cfg.batch_size))
        return dataclasses.replace(train_cfg, steps=steps)

    def describe(self, cfg: dict[str, Any]) -> str:
        cols = cfg["spec"]["columns"]
        learned = sum(c["kind"] != "id" for c in cols)
        return f"table, {len(cols)} columns ({learned} learned)"

    def card_data(self, report: dict[str, Any]) -> list[str]:
        columns = report.get("columns") or {}
        kinds: dict[str, int] = {}
        for kind in columns.values():
            kinds[kind] = kinds.get(kind, 0) + 1
        missing = report.get("missing") or {}
        return [
            f"- rows: {report.get('num_rows', '?')} (train {report.get('train', '?')}, real holdout "
            f"{report.get('val', '?')}, kept for the privacy and utility evaluation)",
            f"- columns: {len(columns)} ("
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + ")",
            f"- target column for the utility test: {report.get('target') or 'none'}",
            f"- missing values: {sum(missing.values())} in {len(missing)} columns",
        ]

    def card_samples(self) -> str:
        return "Latest preview (20 rows): [samples/latest.csv](samples/latest.csv)"

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- Losses say little about the rows; judge the model by `genforge eval` (column shapes,",
            "  pair trends, privacy distance to the training rows, utility on the real holdout).",
            "- Synthetic rows can copy training rows; the evaluation's privacy check counts them.",
            f"- Trained on {report.get('train', '?')} rows only; rare categories and extreme "
            "values are the first to be lost.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f"genforge sample {run_name} --n 1000 --out synthetic.csv --seed 0",
            f"genforge eval {run_name}",
        ]


# ---------------------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------------------


class Audio(Modality):
    """Clips resampled to one rate and cut or padded to one length, (N, 1, L) in [-1, 1];
    previews are a spectrogram grid and WAV files."""

    name = "audio"
    default_data = "tones"
    item_name = "clips"
    unit = "clips"
    data_config = AudioDataConfig
    spec_type = AudioSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.audio:AudioPipeline",
        "evaluator": "genforge.evaluate.audio:evaluate_run",
        "preview": "genforge.train.previews:audio_preview",
        "sample": "genforge.cli.sample:sample_audio",
        "serve": "genforge.serve.handlers:AUDIO",
    }

    def is_embedded(self, source: str) -> bool:
        return source in EMBEDDED_AUDIO

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        return load_audio(cfg.source, cfg.sample_rate, cfg.seconds, seed=seed)

    def spec_of(self, dataset: Any) -> Any:
        return self.spec_type(dataset.sample_rate, dataset.length, dataset.num_classes,
                              tuple(dataset.class_names))  # fmt: skip

    def describe(self, cfg: dict[str, Any]) -> str:
        spec = cfg["spec"]
        return f"{spec['length'] / spec['sample_rate']:g} s clips at {spec['sample_rate']} Hz"

    def card_data(self, report: dict[str, Any]) -> list[str]:
        classes = report.get("class_counts") or {}
        named = ", ".join(f"{k} ({v})" for k, v in classes.items()) if classes else "unlabeled"
        return [
            f"- clips used: {report.get('num_clips', '?')} of {report.get('num_files', '?')} files "
            f"found (train {report.get('train', '?')}, held-out val {report.get('val', '?')})",
            f"- classes: {named}",
            f"- skipped files: {len(report.get('skipped', []))}",
        ]

    def card_samples(self) -> str:
        return (
            "![spectrograms](samples/latest.png)\n\n"
            "Listen: [samples/latest-0.wav](samples/latest-0.wav)"
        )

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- Losses say little about the sound; listen to the clips and compare spectrograms and",
            "  the evaluation's Fréchet distance against held-out clips (`genforge eval`).",
            "- A model trained on a few clips can reproduce them; audit before sharing.",
            f"- Trained on {report.get('train', '?')} clips only; it knows nothing outside that data.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f"genforge sample {run_name} --n 8 --out-dir clips --seed 0",
            f"genforge eval {run_name}",
        ]


# ---------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------


class Video(Modality):
    """Clips resampled to one frame rate, frame count and square size, (N, C, T, H, W) in
    [-1, 1]; previews are a frame-strip PNG (one row per clip) and an MP4."""

    name = "video"
    default_data = "moving-digits"
    item_name = "clips"
    unit = "clips"
    data_config = VideoDataConfig
    spec_type = VideoSpec
    handlers: ClassVar[dict[str, str]] = {
        "pipeline": "genforge.generate.video:VideoPipeline",
        "evaluator": "genforge.evaluate.video:evaluate_run",
        "preview": "genforge.train.previews:video_preview",
        "sample": "genforge.cli.sample:sample_video",
        "serve": "genforge.serve.handlers:VIDEO",
    }

    def is_embedded(self, source: str) -> bool:
        return source in EMBEDDED_VIDEO

    def load(self, cfg: Any, seed: int, **options: Any) -> Any:
        return load_video(cfg, seed=seed)

    def spec_of(self, dataset: Any) -> Any:
        return self.spec_type(dataset.channels, dataset.frames, dataset.image_size, dataset.fps,
                              dataset.num_classes, tuple(dataset.class_names))  # fmt: skip

    def describe(self, cfg: dict[str, Any]) -> str:
        s = cfg["spec"]
        return (
            f"{s['frames']} frames at {s['fps']:g} fps, {s['size']}×{s['size']}, {s['channels']} ch"
        )

    def card_data(self, report: dict[str, Any]) -> list[str]:
        classes = report.get("class_counts") or {}
        named = ", ".join(f"{k} ({v})" for k, v in classes.items()) if classes else "unlabeled"
        return [
            f"- clips used: {report.get('num_clips', '?')} of {report.get('num_files', '?')} found "
            f"(train {report.get('train', '?')}, held-out val {report.get('val', '?')})",
            f"- classes: {named}",
            f"- skipped files: {len(report.get('skipped', []))}; variable frame rate: "
            f"{len(report.get('variable_rate', []))}; rotated: {len(report.get('rotated', []))}",
        ]

    def card_samples(self) -> str:
        return (
            "![frame strips](samples/latest.png)\n\nWatch: [samples/latest.mp4](samples/latest.mp4)"
        )

    def card_limits(self, report: dict[str, Any]) -> list[str]:
        return [
            "- Losses say little about the clips; watch them and compare the evaluation's per-frame",
            "  and clip-level Fréchet distances and temporal statistics (`genforge eval`).",
            "- A model trained on few clips can reproduce them; the evaluation audits memorisation.",
            f"- Trained on {report.get('train', '?')} clips only; it knows nothing outside that data.",
        ]

    def card_usage(self, run_name: str, task: str) -> list[str]:
        return [
            f"genforge sample {run_name} --n 8 --out clip.mp4 --seed 0",
            f"genforge predict {run_name} --clip in.mp4 --frames 4 --out next.mp4",
            f"genforge eval {run_name}",
        ]


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (Image(), CaptionedImage(), ImagePair(), Text(), TextPair(), Table(), Audio(), Video())
}


def get_modality(name: str) -> Modality:
    """The modality called `name`, or a one-line error listing the known ones."""
    if name not in MODALITIES:
        raise unknown_choice("modality", name, MODALITIES)
    return MODALITIES[name]
