"""Benchmarks: figures, not tests. One module per benchmark, each a library function that
measures and returns a result dataclass, plus the rich Table that shows it; `genforge bench`
(genforge.cli.bench) only parses options, calls them and prints.

    train        training images/s, FLOPs and the device's matmul peak (genforge vs the classic
                 DataLoader DCGAN loop)
    sample       diffusion samplers: images/s and FD on one run
    text         char GPT through the Trainer vs a plain PyTorch GPT, a KN 5-gram, decoding speed
    audio_table  training and generation speed of the audio and table families
    serve        /v1/generate requests/s and latency of a local `genforge serve`
    eval         time to compute FD on N images
    watermark    watermark survival under common edits

Layering: bench sits above serve (it may import core, data, safety, models, train, generate,
evaluate, api and serve) and below recipes and cli, which it never imports; nothing below it
imports bench. The finance report benchmark is a recipe's (genforge.recipes.finance) and stays
with the CLI.
"""
