"""The families' feedback steps move the model the way the ratings say: DPO raises the chosen
text's probability over the rejected one's, reward-weighted diffusion fits approved images
better, and a GAN's discriminator learns to call rejected outputs fake."""

from __future__ import annotations

import torch
from accelerate import Accelerator

from genforge.data.dataset import ImageSpec
from genforge.data.text import TextSpec
from genforge.models import build_model
from genforge.models.base import FeedbackBatch
from genforge.models.text_base import PreferenceBatch, dpo_loss

ACC = Accelerator(cpu=True)


def test_dpo_loss_is_log2_at_the_reference_and_falls_with_the_margin():
    zero = dpo_loss(torch.tensor([1.0]), torch.tensor([1.0]), beta=0.1)
    assert torch.allclose(zero, torch.log(torch.tensor([2.0])))
    assert dpo_loss(torch.tensor([5.0]), torch.tensor([0.0]), 0.1) < zero
    assert dpo_loss(torch.tensor([-5.0]), torch.tensor([0.0]), 0.1) > zero


def _opts(model, lr=3e-3):
    return {k: torch.optim.Adam(n.parameters(), lr=lr) for k, n in model.networks().items()}


def test_dpo_steps_raise_the_chosen_over_the_rejected_text():
    torch.manual_seed(0)
    spec = TextSpec(vocab_size=12, block_size=16, tokenizer="char", eos_id=0)
    model = build_model("gpt", spec, {"n_layer": 1, "n_head": 2, "n_embd": 16, "dropout": 0.0})
    net = model.networks()["lm"]
    chosen = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]])
    rejected = torch.tensor([[0, 1, 8, 8, 8, 8, 8, 8]])
    mask = torch.tensor([[0.0, 0, 1, 1, 1, 1, 1, 1]])  # the prompt is [0, 1]

    def margin() -> float:
        with torch.no_grad():
            return float(model.sequence_logprob(net, chosen, mask)
                         - model.sequence_logprob(net, rejected, mask))  # fmt: skip

    start = margin()
    ref = (model.sequence_logprob(net, chosen, mask).detach(),
           model.sequence_logprob(net, rejected, mask).detach())  # fmt: skip
    pairs = PreferenceBatch(chosen, mask, rejected, mask, *ref, beta=0.1, scale=1.0)
    corpus = torch.randint(1, 12, (4, 17))
    opts = _opts(model)
    for _ in range(30):
        logs = model.feedback_step({"lm": net}, opts, lambda: (corpus, None), lambda: pairs, ACC)
    assert margin() > start + 1.0, (start, margin())
    assert float(logs["preference_accuracy"]) == 1.0 and float(logs["dpo_loss"]) < 0.69


def _diffusion(steps: int, feedback: bool) -> float:
    """How well the model recovers the approved image from a fixed noising (t = 200 of 1000,
    64 draws) after `steps` steps, with or without it as rated feedback."""
    torch.manual_seed(0)
    spec = ImageSpec(1, 8, 0, ())
    model = build_model("ddpm", spec, {"block_out_channels": [8, 16], "norm_num_groups": 4})
    unet = model.networks()["unet"]
    real = torch.randn(8, 1, 8, 8).sign()  # eight fixed +-1 patterns
    approved = torch.randn(1, 1, 8, 8).sign()  # another one, which the reviewers liked
    fb = FeedbackBatch(approved.repeat(2, 1, 1, 1), None, torch.ones(2), scale=1.0)
    opts = _opts(model)
    for _ in range(steps):
        if feedback:
            model.feedback_step({"unet": unet}, opts, lambda: (real, None), lambda: fb, ACC)
        else:
            model.training_step({"unet": unet}, opts, lambda: (real, None), ACC)
    x = approved.repeat(64, 1, 1, 1)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    t = torch.full((64,), 200)
    a = model.scheduler.alphas_cumprod[200]
    with torch.no_grad():
        x_t = model.scheduler.add_noise(x, noise, t)
        eps = model.forward_net(unet, x_t, t, None)
    x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()  # the model's estimate of the clean image
    return float((x0 - x).pow(2).mean())


def test_reward_weighted_diffusion_fits_approved_images_better():
    plain, rewarded = _diffusion(100, False), _diffusion(100, True)
    assert rewarded < 0.6 * plain, (plain, rewarded)


def _gan(steps: int, feedback: bool) -> tuple[float, float]:
    """D's output on the rejected images and on real ones after `steps` steps."""
    torch.manual_seed(0)
    spec = ImageSpec(1, 8, 0, ())
    model = build_model("dcgan", spec, {"latent_dim": 8, "ngf": 8, "ndf": 8})
    nets = model.networks()
    real = torch.rand(8, 1, 8, 8) * 2 - 1
    rejected = -torch.ones(4, 1, 8, 8)  # all-black: what the reviewers turned down
    fb = FeedbackBatch(rejected, None, torch.ones(4), scale=1.0)
    opts = _opts(model, lr=2e-3)
    for _ in range(steps):
        if feedback:
            logs = model.feedback_step(nets, opts, lambda: (real, None), lambda: fb, ACC)
            assert "d_negative" in logs
        else:
            model.training_step(nets, opts, lambda: (real, None), ACC)
    d = nets["discriminator"].eval()
    with torch.no_grad():
        return float(d(rejected).mean()), float(d(real).mean())


def test_gan_negatives_teach_the_discriminator_they_are_fake():
    plain_neg, _ = _gan(30, False)
    neg, real = _gan(30, True)
    assert neg < plain_neg - 1.0 and neg < real, (plain_neg, neg, real)
