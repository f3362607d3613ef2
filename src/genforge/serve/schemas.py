"""Typed request and response bodies of the /v1 API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from genforge.generate.pipeline import TRUNCATION_RANGE

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="letters, digits, '.', '_', '-'")]
Scalar = str | int | float | bool
RunState = Literal["queued", "running", "completed", "failed", "cancelled", "stopped", "empty"]


class Strict(BaseModel):
    """A request body: unknown fields refused, and NaN or Infinity in any number (JSON as
    Python reads it takes them; nothing the server does with them is meaningful)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Info(BaseModel):
    version: str
    auth: bool
    modalities: dict[str, list[str]]
    limits: dict[str, int]


class ModelInfo(BaseModel):
    name: str
    description: str
    modality: str
    conditional: bool
    kind: Literal["family", "causal-lm", "text-to-image"] = Field(
        default="family", description="family: a model genforge trains (POST /v1/runs); "
        "causal-lm, text-to-image: a local model folder the server was given (--model-dir)",
    )  # fmt: skip


class DatasetRegister(Strict):
    name: Name
    path: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$",
                      description="a folder on the server")  # fmt: skip


class DatasetInfo(BaseModel):
    name: str
    kind: Literal["embedded", "folder", "upload"]
    path: str | None
    created: str | None = None
    report: dict[str, Any] | None = None


class RunCreate(Strict):
    model: Name
    data: Name = Field(description="a dataset name (GET /v1/datasets)")
    name: Name | None = None
    steps: int = Field(default=2000, ge=1)
    options: dict[Annotated[str, Field(max_length=64)], Scalar | list[Scalar]] = Field(
        default_factory=dict, description="config keys: batch_size, image_size, lr, seed, ..."
    )


class RunResume(Strict):
    steps: int | None = Field(default=None, ge=1, description="new total steps")


class RunInfo(BaseModel):
    name: str
    model: str | None
    data: str | None
    modality: str
    state: RunState
    step: int = Field(description="last logged training step")
    checkpoint_step: int = Field(description="step of the last checkpoint (what resume continues)")
    steps: int | None
    job_id: int | None
    error: str | None
    created: str | None
    conditional: bool
    class_names: list[str]
    files: list[str]
    controls: list[str] = Field(
        default_factory=list, description="the /v1/generate fields this run takes"
    )


class RunControls(BaseModel):
    """What the playground shows for one run, with the choices and defaults of each field."""

    run: str
    modality: str
    model: str
    controls: list[str]
    class_names: list[str]
    samplers: list[str] = Field(description="diffusion runs: the sampler choices")
    default_sampler: str | None
    default_steps: dict[str, int] = Field(description="diffusion runs: steps per sampler")
    max_sampling_steps: int | None = Field(description="diffusion: the training timesteps")
    default_guidance: float | None
    max_best_of: int


class GenerateRequest(Strict):
    run: Name | None = Field(default=None, description="a run (GET /v1/runs); or give model")
    model: Name | None = Field(
        default=None, description="a local causal LM folder of this server (GET /v1/models, "
        "kind causal-lm) instead of a run",
    )  # fmt: skip
    n: int = Field(default=1, ge=1)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    label: int | str | None = Field(default=None, description="class name or index")
    truncation: float | None = Field(
        default=None, ge=TRUNCATION_RANGE[0], le=TRUNCATION_RANGE[1],
        description="GANs, VAEs, diffusion: resample latent values beyond this (smaller: "
        "more typical, less varied outputs)",
    )  # fmt: skip
    prompt: str | None = Field(default=None, description="text runs; text-to-image runs")
    # image runs (GET /v1/runs/{run}/controls lists which fields a run takes)
    steps: int | None = Field(default=None, ge=1, description="diffusion: denoising steps")
    sampler: Literal["ddpm", "ddim", "dpm-solver++"] | None = Field(
        default=None, description="diffusion: default ddim"
    )
    guidance: float | None = Field(
        default=None, ge=0, le=100, description="conditional diffusion: classifier-free scale"
    )
    eta: float | None = Field(
        default=None, ge=0, le=1, description="diffusion, ddim sampler: per-step noise, "
        "0 deterministic (default) to 1",
    )  # fmt: skip
    best_of: int | None = Field(
        default=None, ge=1, description="GANs, VAEs, diffusion: keep the best-scored of k "
        "candidates per output (the quality gate's score)",
    )  # fmt: skip
    gate: Literal["auto", "learned", "both"] | None = Field(
        default=None, description="with best_of: score candidates by the automatic gate "
        "(default), the learned gate fitted on people's ratings (genforge gate fit), or both",
    )  # fmt: skip
    attributes: dict[str, str] | None = Field(
        default=None, description="attribute runs (attrgan): {attribute: value}, e.g. "
        '{"hair": "red"}; attributes not given are random, fixed by the seed',
    )  # fmt: skip
    # text runs (GET /v1/info lists which fields each modality takes)
    max_new_tokens: int | None = Field(default=None, ge=1)
    decoding: Literal["greedy", "beams", "sampling"] | None = Field(
        default=None, description="text: default greedy for n=1, sampling for n>1"
    )
    num_beams: int | None = Field(default=None, ge=1, le=16)
    temperature: float | None = Field(default=None, gt=0, le=10)
    top_k: int | None = Field(default=None, ge=0, le=100_000)
    top_p: float | None = Field(default=None, gt=0, le=1)
    watermark: bool | None = Field(default=None, description="text: green-list watermark")
    response: Literal["url", "base64"] = "url"

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if (self.run is None) == (self.model is None):
            raise ValueError("give one of run (a trained run) and model (a local model folder)")
        return self


class OutputInfo(BaseModel):
    id: str
    url: str
    media_type: str
    params: dict[str, Any]
    watermarked: bool
    data_base64: str | None = None
    text: str | None = Field(default=None, description="text runs: the generated text")
    rows: list[dict[str, Any]] | None = Field(default=None, description="table runs: the rows")
    spectrogram_url: str | None = Field(default=None, description="audio runs: a PNG")


class GenerateResponse(BaseModel):
    run: str | None
    model: str | None = Field(default=None, description="the local model folder, if one")
    modality: str
    step: int
    outputs: list[OutputInfo]


class OutputRecord(BaseModel):
    id: str
    created: str
    who: str
    run: str
    modality: str
    params: dict[str, Any]
    sha256: str
    phash: str | None
    watermarked: bool
    url: str
    rating: RatingOut | None = Field(default=None, description="the caller's own rating")


class OutputList(BaseModel):
    total: int
    items: list[OutputRecord]


class DetectTextRequest(Strict):
    text: str = Field(min_length=1)
    run: Name | None = Field(
        default=None,
        description="the text run to test against (default: runs that wrote "
        "watermarked text, newest first)",
    )


class TextWatermark(BaseModel):
    run: str
    z_score: float
    p_value: float
    green_fraction: float
    tokens_scored: int
    watermarked: bool


class DetectTextResponse(BaseModel):
    found: bool
    evidence: Literal["sha256", "text-watermark"] | None
    message: str
    record: OutputRecord | None
    tests: list[TextWatermark] = Field(description="the watermark test of each run tried")


class DetectResponse(BaseModel):
    found: bool
    evidence: Literal["sha256", "watermark", "png-metadata", "phash"] | None
    message: str
    distance: int | None
    ties: int | None
    record: OutputRecord | None


# -- chat -------------------------------------------------------------------------------------

ConversationId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class ChatRequest(Strict):
    """One user turn: with a text run (`run`) or a pretrained chat model (`model`, from
    GET /v1/chat/models), in a new conversation or an existing one (`conversation`).
    Decoding options given are kept for the conversation's later turns."""

    run: Name | None = Field(default=None, description="a text run")
    model: Name | None = Field(default=None, description="a chat model the server was given")
    message: str = Field(min_length=1, description="the user's message")
    conversation: ConversationId | None = Field(default=None, description="null: a new one")
    max_new_tokens: int | None = Field(default=None, ge=1)
    decoding: Literal["greedy", "sampling"] | None = None
    temperature: float | None = Field(default=None, gt=0, le=10)
    top_k: int | None = Field(default=None, ge=0, le=100_000)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1,
                             description="the first reply's seed; +1 per turn")  # fmt: skip
    watermark: bool | None = None
    stream: bool = Field(default=False, description="reply as server-sent events")


class ChatTurn(BaseModel):
    user: str
    bot: str
    output: str | None = Field(description="the reply's output id (provenance record)")
    created: str
    stopped: bool = Field(default=False, description="the client stopped the reply midway")


class ChatInfo(BaseModel):
    id: str
    run: str | None = None
    model: str | None = None
    options: dict[str, Any]
    turns: list[ChatTurn]
    created: str
    updated: str


class ChatReply(BaseModel):
    conversation: str
    turn: int = Field(description="index of this turn in the conversation")
    reply: str
    output: OutputInfo


# -- detection (genforge detect) ---------------------------------------------------------------


class DetectEvidence(BaseModel):
    """One piece of evidence; kinds add their own fields (run, output, distance, z_score,
    error_rates, lm, ...)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    says: Literal["generated", "real", "unknown"]
    score: float | None
    detail: str


class DetectVerdict(BaseModel):
    """What `genforge detect --json` prints for one file."""

    path: str
    verdict: Literal["generated", "real", "unknown"]
    score: float | None
    evidence: list[DetectEvidence]
    error: str | None = None


class RatingRequest(Strict):
    """A person's verdict on one output: every field optional, but one must be given."""

    thumb: Literal["up", "down"] | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=20
    )
    note: str = Field(default="", max_length=2000)


class RatingOut(BaseModel):
    output_id: str
    rater: str
    run: str
    updated: str
    thumb: str | None
    score: int | None
    tags: list[str]
    note: str


class FeedbackSummary(BaseModel):
    run: str
    ratings: int
    outputs: int
    raters: list[str]
    up: int
    down: int
    mean_score: float | None
    approved: int
    rejected: int
    agreement: dict[str, float] | None


class FeedbackList(BaseModel):
    total: int
    summary: FeedbackSummary
    items: list[RatingOut]


class ReviewRequest(Strict):
    n: int = Field(default=16, ge=1, le=128, description="outputs to draw")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    prompt: str = Field(default="", max_length=500, description="text runs: what to continue")


class ReviewBatch(BaseModel):
    run: str
    gate: str | None = Field(description="the gate that ordered the batch (None: drawing order)")
    items: list[OutputRecord]
