"""Pretrained and remote image generators behind one interface.

    local              a diffusers pipeline folder on disk (model_index.json + component
                       folders, safetensors weights): txt2img, img2img, inpaint
    openai-compatible  an OpenAI-style images endpoint: POST {base}/images/generations;
                       base URL from $OPENAI_BASE_URL, key from $OPENAI_API_KEY

Nothing here downloads weights: a local pipeline loads with `local_files_only=True` and
safetensors only (never pickle). A remote request is sent once; its failure (HTTP status and
the server's message) is reported as one line, never retried.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from PIL import Image

from genforge.core.errors import GenforgeError, unknown_choice
from genforge.models.pipeline_folder import is_pipeline_folder, missing_pipeline_files

__all__ = ["is_pipeline_folder", "missing_pipeline_files"]  # their old home; they live in models


class Provider:
    """Generates PIL images from a prompt (and, where supported, from an image)."""

    name: str = ""

    def txt2img(
        self,
        prompt: str,
        n: int = 1,
        seed: int = 0,
        guidance: float | None = None,
        steps: int | None = None,
    ) -> list[Image.Image]:
        raise NotImplementedError

    def img2img(
        self,
        image: Image.Image,
        prompt: str,
        strength: float = 0.5,
        n: int = 1,
        seed: int = 0,
        guidance: float | None = None,
        steps: int | None = None,
    ) -> list[Image.Image]:
        raise GenforgeError(f"the {self.name} provider does not do image-to-image")

    def inpaint(
        self,
        image: Image.Image,
        mask: Image.Image,
        prompt: str,
        n: int = 1,
        seed: int = 0,
        guidance: float | None = None,
        steps: int | None = None,
    ) -> list[Image.Image]:
        raise GenforgeError(f"the {self.name} provider does not do inpainting")


# ---------------------------------------------------------------------------------------
# Local diffusers pipeline folder
# ---------------------------------------------------------------------------------------


class LocalPipeline(Provider):
    """A diffusers pipeline folder, e.g. a Stable Diffusion checkpoint saved with
    `save_pretrained`.

    Args:
        path: the folder holding model_index.json.
        device: "auto", "cpu" or "cuda".
        lora: a LoRA run's folder (`genforge train lora`) whose adapters to load.
        lora_scale: how strongly the adapters act (0: the base alone, 1: as trained).
    """

    name = "local"

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        lora: str | Path | None = None,
        lora_scale: float = 1.0,
    ):
        from diffusers import DiffusionPipeline

        from genforge.core.device import pick_device

        self.path = Path(path)
        if not self.path.is_dir():
            raise GenforgeError(f"no pipeline folder {self.path}")
        missing = missing_pipeline_files(self.path)
        if missing:
            raise GenforgeError(
                f"{self.path} is not a complete diffusers pipeline; missing: {', '.join(missing)}"
            )
        try:
            self.pipe = DiffusionPipeline.from_pretrained(
                self.path, local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, ImportError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GenforgeError(f"cannot load the pipeline in {self.path}: {first}") from None
        self.device = pick_device(device)
        if lora is not None:
            self.load_lora(Path(lora), lora_scale)
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    def load_lora(self, run_path: Path, scale: float) -> None:
        """Load a LoRA run's adapters (diffusers' `load_lora_weights`) at strength `scale`;
        the image-to-image and inpainting pipelines share them (same components)."""
        from genforge.core.hf import quiet_diffusers
        from genforge.core.run import Run
        from genforge.models.sd_lora import ADAPTER, lora_weights_file

        quiet_diffusers()  # "no LoRA keys for the text encoder" is expected without one

        weights = lora_weights_file(run_path, Run(run_path).read_config())
        if not hasattr(self.pipe, "load_lora_weights"):
            raise GenforgeError(
                f"the pipeline in {self.path} ({type(self.pipe).__name__}) does not take LoRA "
                "adapters"
            )
        try:
            self.pipe.load_lora_weights(weights.parent, weight_name=weights.name,
                                        adapter_name=ADAPTER)  # fmt: skip
        except (ValueError, RuntimeError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GenforgeError(
                f"the LoRA of run '{run_path.name}' does not fit the pipeline in {self.path}: "
                f"{first}"
            ) from None
        self.set_lora_scale(scale)

    def set_lora_scale(self, scale: float) -> None:
        """How strongly the loaded LoRA adapters act from now on (0: the base alone)."""
        from genforge.models.sd_lora import ADAPTER

        self.pipe.set_adapters([ADAPTER], adapter_weights=[scale])

    def _call(self, pipe: Any, seed: int, guidance, steps, **kwargs) -> list[Image.Image]:
        import torch

        params = inspect.signature(pipe.__call__).parameters
        if "prompt" in kwargs and "prompt" not in params:
            raise GenforgeError(
                f"the pipeline in {self.path} ({type(pipe).__name__}) takes no prompt"
            )
        if guidance is not None and "guidance_scale" in params:
            kwargs["guidance_scale"] = guidance
        if steps is not None:
            kwargs["num_inference_steps"] = steps
        g = torch.Generator().manual_seed(seed)
        return list(pipe(generator=g, output_type="pil", **kwargs).images)

    def txt2img(self, prompt, n=1, seed=0, guidance=None, steps=None):
        return self._call(self.pipe, seed, guidance, steps, prompt=prompt, num_images_per_prompt=n)

    def img2img(self, image, prompt, strength=0.5, n=1, seed=0, guidance=None, steps=None):
        from diffusers import AutoPipelineForImage2Image

        pipe = self._derived(AutoPipelineForImage2Image, "image-to-image")
        return self._call(pipe, seed, guidance, steps, prompt=prompt, image=image,
                          strength=strength, num_images_per_prompt=n)  # fmt: skip

    def inpaint(self, image, mask, prompt, n=1, seed=0, guidance=None, steps=None):
        from diffusers import AutoPipelineForInpainting

        if mask.size != image.size:
            raise GenforgeError(
                f"the mask is {mask.width}x{mask.height} but the image is "
                f"{image.width}x{image.height}; they must match"
            )
        pipe = self._derived(AutoPipelineForInpainting, "inpainting")
        return self._call(pipe, seed, guidance, steps, prompt=prompt, image=image,
                          mask_image=mask, num_images_per_prompt=n,
                          height=image.height, width=image.width)  # fmt: skip

    def _derived(self, auto: Any, task: str) -> Any:
        """The same components in the task's pipeline class (no copy of the weights)."""
        try:
            pipe = auto.from_pipe(self.pipe)
        except (ValueError, KeyError) as e:
            raise GenforgeError(
                f"the pipeline in {self.path} ({type(self.pipe).__name__}) cannot do {task}: {e}"
            ) from None
        pipe.set_progress_bar_config(disable=True)
        return pipe


# ---------------------------------------------------------------------------------------
# OpenAI-compatible images endpoint
# ---------------------------------------------------------------------------------------

BASE_URL_ENV, KEY_ENV = "OPENAI_BASE_URL", "OPENAI_API_KEY"


class OpenAICompatible(Provider):
    """POST {base_url}/images/generations with a bearer key; images come back as base64.

    Args:
        base_url: default $OPENAI_BASE_URL.
        api_key: default $OPENAI_API_KEY.
        model: the remote model name (sent only when given).
        size: "WIDTHxHEIGHT".
        timeout: seconds to wait for the answer.
    """

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        size: str = "1024x1024",
        timeout: float = 120.0,
    ):
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or "").rstrip("/")
        self.api_key = api_key or os.environ.get(KEY_ENV)
        if not self.base_url:
            raise GenforgeError(f"set {BASE_URL_ENV} to the images API base URL (ending in /v1)")
        if not self.base_url.startswith(("http://", "https://")):
            raise GenforgeError(f"{BASE_URL_ENV} must start with http:// or https://")
        if not self.api_key:
            raise GenforgeError(f"set {KEY_ENV} to the API key of {self.base_url}")
        self.model, self.size, self.timeout = model, size, timeout

    def txt2img(self, prompt, n=1, seed=0, guidance=None, steps=None):
        body: dict[str, Any] = {
            "prompt": prompt, "n": n, "size": self.size, "response_format": "b64_json",
        }  # fmt: skip
        if self.model:
            body["model"] = self.model
        answer = self._post("/images/generations", body)
        images = []
        for item in answer.get("data") or []:
            if "b64_json" not in item:
                raise GenforgeError("the images endpoint returned no b64_json image data")
            raw = base64.b64decode(item["b64_json"])
            images.append(Image.open(io.BytesIO(raw)).convert("RGB"))
        if not images:
            raise GenforgeError("the images endpoint returned no images")
        return images

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request, no retries: an error is reported with its status and message."""
        url = self.base_url + route
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            raise GenforgeError(
                f"images endpoint {url} answered {e.code}: {_error_message(e)}"
            ) from None
        except urllib.error.URLError as e:
            raise GenforgeError(f"cannot reach {url}: {e.reason}") from None
        except TimeoutError:
            raise GenforgeError(f"{url} did not answer within {self.timeout:g} s") from None
        except json.JSONDecodeError:
            raise GenforgeError(f"images endpoint {url} answered with something not JSON") from None


def _error_message(e: urllib.error.HTTPError) -> str:
    """The server's error message ({"error": {"message": ...}} in the OpenAI style)."""
    try:
        raw = e.read().decode("utf-8", "replace")
    except OSError:
        return e.reason or "no message"
    try:
        err = json.loads(raw).get("error")
        msg = err.get("message") if isinstance(err, dict) else err
    except (json.JSONDecodeError, AttributeError):
        msg = raw
    return " ".join(str(msg or e.reason or "no message").split())[:300]


PROVIDERS: dict[str, type[Provider]] = {
    "local": LocalPipeline,
    "openai-compatible": OpenAICompatible,
}


def get_provider(name: str, **options: Any) -> Provider:
    if name not in PROVIDERS:
        raise unknown_choice("provider", name, [*PROVIDERS, "run"])
    return PROVIDERS[name](**options)
