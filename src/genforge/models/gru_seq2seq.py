"""The classic text-to-text baseline: a GRU encoder-decoder with additive attention (Bahdanau,
Cho and Bengio 2015, "Neural Machine Translation by Jointly Learning to Align and Translate").

A bidirectional GRU reads the source; at each target step a GRU cell takes the previous token
and a context vector, an attention-weighted sum of the encoder states scored by
v^T tanh(W s + U h); the output layer sees the state, the context and the previous token.
Trained with teacher forcing on the same (B, 2, L) pair batches and tokenizer as the
transformer. Decoding is genforge's own loop (it is not a transformers model): greedy, beam
search with a length penalty, or sampling with temperature and top-p.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genforge.core.errors import GenforgeError
from genforge.data.text_pairs import PairSpec
from genforge.models.seq2seq import DecodeConfig, PairModel, token_cross_entropy


@dataclass
class GRUSeq2SeqConfig:
    emb_dim: int = 128
    hidden: int = 256
    dropout: float = 0.1
    grad_clip: float = 1.0
    label_smoothing: float = 0.0  # training loss only


class AttentionGRU(nn.Module):
    """The network: shared embeddings, bidirectional encoder, attentive decoder cell."""

    def __init__(self, vocab: int, pad: int, emb: int, hidden: int, dropout: float):
        super().__init__()
        self.pad = pad
        self.emb = nn.Embedding(vocab, emb, padding_idx=pad)
        self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.init_h = nn.Linear(2 * hidden, hidden)
        self.w_s = nn.Linear(hidden, hidden, bias=False)  # attention: decoder state
        self.u_h = nn.Linear(2 * hidden, hidden)  # attention: encoder states
        self.v = nn.Linear(hidden, 1, bias=False)
        self.cell = nn.GRUCell(emb + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden + emb, vocab)
        self.drop = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(encoder states (B, S, 2H), their attention keys (B, S, H), pad mask, first state)."""
        mask = src != self.pad
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.drop(self.emb(src)), lengths, batch_first=True, enforce_sorted=False
        )
        states, last = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True,
                                                     total_length=src.shape[1])  # fmt: skip
        h = torch.tanh(self.init_h(torch.cat([last[0], last[1]], dim=-1)))
        return states, self.u_h(states), mask, h

    def step(self, prev: torch.Tensor, h: torch.Tensor, states: torch.Tensor,
             keys: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """One decoder step: (logits (B, V), new state (B, H)) after token `prev` (B,)."""
        e = self.drop(self.emb(prev))
        scores = self.v(torch.tanh(keys + self.w_s(h)[:, None])).squeeze(-1)
        attn = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        ctx = torch.bmm(attn[:, None], states).squeeze(1)
        h = self.cell(torch.cat([e, ctx], dim=-1), h)
        return self.out(self.drop(torch.cat([h, ctx, e], dim=-1))), h

    def forward(self, src: torch.Tensor, decoder_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) for decoder inputs (B, T)."""
        states, keys, mask, h = self.encode(src)
        logits = []
        for t in range(decoder_in.shape[1]):
            lt, h = self.step(decoder_in[:, t], h, states, keys, mask)
            logits.append(lt)
        return torch.stack(logits, dim=1)


class GRUSeq2Seq(PairModel):
    """Bahdanau-attention GRU encoder-decoder on the run's tokenizer."""

    Config = GRUSeq2SeqConfig

    def __init__(self, config: GRUSeq2SeqConfig, spec: PairSpec):
        super().__init__(config, spec)
        self.net = AttentionGRU(spec.vocab_size, spec.pad_id, config.emb_dim, config.hidden,
                                config.dropout)  # fmt: skip

    def loss(self, net: nn.Module, src: torch.Tensor, labels: torch.Tensor,
             smoothing: float = 0.0) -> torch.Tensor:  # fmt: skip
        start = torch.full_like(labels[:, :1], self.spec.pad_id)  # Marian's decoder start
        prev = labels[:, :-1]
        decoder_in = torch.cat([start, prev.masked_fill(prev == -100, self.spec.pad_id)], dim=1)
        return token_cross_entropy(net(src, decoder_in), labels, smoothing)

    def decode_batch(self, net: nn.Module, src: torch.Tensor, d: DecodeConfig,
                     **generate: Any) -> list[str]:  # fmt: skip
        if d.force_words or d.bad_words or d.forced_bos_token or generate:
            raise GenforgeError(
                "the GRU baseline decodes greedily, with beams or by sampling; forced, banned "
                "words and watermarks need a transformer run (genforge train seq2seq)"
            )
        if d.num_beams > 1 and not d.do_sample:
            return [self._beam(net, src[i : i + 1], d) for i in range(len(src))]
        states, keys, mask, h = net.encode(src)
        prev = torch.full((len(src),), self.spec.pad_id, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        out = []
        for _ in range(d.max_new_tokens):
            logits, h = net.step(prev, h, states, keys, mask)
            prev = _sample(logits, d) if d.do_sample else logits.argmax(-1)
            prev = prev.masked_fill(done, self.spec.pad_id)
            out.append(prev)
            done |= prev == self.spec.eos_id
            if bool(done.all()):
                break
        ids = torch.stack(out, dim=1) if out else prev[:, None]
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def _beam(self, net: nn.Module, src: torch.Tensor, d: DecodeConfig) -> str:
        """Beam search for one source; finished hypotheses ranked by log-prob / len^penalty."""
        states, keys, mask, h = net.encode(src)
        beams: list[tuple[float, list[int], torch.Tensor]] = [(0.0, [], h)]
        finished: list[tuple[float, list[int]]] = []
        for _ in range(d.max_new_tokens):
            prev = torch.tensor([b[1][-1] if b[1] else self.spec.pad_id for b in beams],
                                device=src.device)  # fmt: skip
            k = len(beams)
            logits, hs = net.step(prev, torch.cat([b[2] for b in beams]), states.expand(k, -1, -1),
                                  keys.expand(k, -1, -1), mask.expand(k, -1))  # fmt: skip
            logp = logits.float().log_softmax(-1)
            cand = []
            for i, (score, ids, _) in enumerate(beams):
                top = logp[i].topk(d.num_beams)
                cand += [(score + float(v), [*ids, int(t)], hs[i : i + 1])
                         for v, t in zip(top.values, top.indices, strict=True)]  # fmt: skip
            cand.sort(key=lambda c: c[0], reverse=True)
            beams = []
            for c in cand:
                if c[1][-1] == self.spec.eos_id:
                    finished.append((c[0] / len(c[1]) ** d.length_penalty, c[1]))
                elif len(beams) < d.num_beams:
                    beams.append(c)
            if len(finished) >= d.num_beams or not beams:
                break
        if not finished:
            finished = [(s / max(1, len(ids)) ** d.length_penalty, ids) for s, ids, _ in beams]
        best = max(finished, key=lambda f: f[0])[1]
        return self.tokenizer.decode(best, skip_special_tokens=True)

    @classmethod
    def from_run(cls, config: GRUSeq2SeqConfig, spec: PairSpec, model_dir: Path) -> GRUSeq2Seq:
        from dataclasses import replace

        from safetensors.torch import load_file

        from genforge.data.text_pairs import load_pair_tokenizer

        tok = load_pair_tokenizer(model_dir / "hf")
        model = cls(config, replace(spec, tokenizer_obj=tok))
        model.load_state_dict(load_file(model_dir / "model.safetensors"))
        return model.eval()


def _sample(logits: torch.Tensor, d: DecodeConfig) -> torch.Tensor:
    """One token per row at temperature `d.temperature` from the top-p nucleus."""
    probs = (logits.float() / max(d.temperature, 1e-6)).softmax(-1)
    if d.top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < d.top_p
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
    return torch.multinomial(probs, 1).squeeze(-1)
