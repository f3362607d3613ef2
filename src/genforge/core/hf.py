"""Settings for the Hugging Face libraries (transformers, diffusers) that several layers load."""

from __future__ import annotations


def quiet_transformers() -> None:
    """No download progress bars and only errors from transformers' logger: genforge loads
    local folders only, and its own messages say what happens."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def quiet_diffusers() -> None:
    """No loading progress bars and only errors from diffusers' logger (and transformers')."""
    from diffusers.utils import logging

    quiet_transformers()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
