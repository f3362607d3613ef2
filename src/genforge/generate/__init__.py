"""Sampling: pipelines over trained Runs, grids, latent walks, VAE codes."""

from genforge.generate.pipeline import ImagePipeline

__all__ = ["ImagePipeline"]
