"""The study's NMT model: the TensorFlow NMT tutorial's 4-layer GNMT-attention LSTM (torch at the top).

Why this architecture. Table I of Qin et al. gives NMT 211M parameters, depth 4, BLEU 27.4, and says
nothing else. The one public TensorFlow 1.x translation model of that depth and size is the NMT
tutorial's WMT16 English-German "NMT + GNMT attention (4 layers)" (tensorflow/nmt,
standard_hparams/wmt16_gnmt_4_layer.json: 1024 units, 4 encoder + 4 decoder LSTM layers,
encoder_type gnmt, attention normed_bahdanau, attention_architecture gnmt_v2, residual, separate
source and target vocabularies and embeddings, BPE with 32000 merges). Its parameters:

* encoder: 1 bidirectional layer (1024 -> 2x1024) + 3 unidirectional (2048 -> 1024, then 1024 -> 1024
  twice, residual): 46.2M;
* decoder: 4 layers, each fed the attention context next to its input (2048 -> 1024): 50.4M;
* normed Bahdanau attention (query and memory projections, v, g, b): 2.1M;
* two 1024-wide embeddings and the 1024 -> V output projection (no bias): 3 x 1024 x V.

The BPE vocabulary size V is not published (the tutorial's script builds it from the data: 32000
merges + characters + 3 special tokens, typically 36k-37k). V = 36,500 gives 211.0M parameters,
Table I's figure (the non-vocabulary part is 98.6M); Table I's depth 4 points to this model rather
than the tutorial's 2-layer ones.

For a static ONNX graph the decoder is teacher-forced over a fixed target length: the bottom decoder
layer and the attention are unrolled step by step (the attention query is that layer's new output,
gnmt_v2; its previous context is fed back as input), the upper layers then run as whole-sequence
LSTMs over [layer below, context]. Decoder layers start from the encoder's final states (the
tutorial's pass_hidden_state). Inputs: source and target token ids, int64 (1, 30); output: logits
(1, 30, V). Weights are uniform in [-0.1, 0.1] like the tutorial's init_weight.
"""
from __future__ import annotations

import torch
from torch import nn

NMT_VOCAB = 36_500
NMT_UNITS = 1024
NMT_SRC_LEN = 30
NMT_TGT_LEN = 30


class LSTMStep(nn.Module):
    """One LSTM step on 2-D tensors (exports as two Gemms, with no per-step weight copies).

    Same parameters as ``nn.LSTMCell``; TF's forget-gate bias of 1.0 is added as a constant.
    """

    def __init__(self, cin: int, units: int):
        super().__init__()
        self.ih = nn.Linear(cin, 4 * units)
        self.hh = nn.Linear(units, 4 * units)

    def forward(self, x, h, c):
        i, g, f, o = (self.ih(x) + self.hh(h)).chunk(4, dim=-1)
        c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class NormedBahdanau(nn.Module):
    """Weight-normalised additive attention (TF ``BahdanauAttention(normalize=True)``)."""

    def __init__(self, units: int):
        super().__init__()
        self.query_layer = nn.Linear(units, units, bias=False)
        self.memory_layer = nn.Linear(units, units, bias=False)
        self.v = nn.Parameter(torch.empty(units))
        self.g = nn.Parameter(torch.empty(()))
        self.b = nn.Parameter(torch.empty(units))

    def scorer(self):
        """The normalised score vector g * v / |v| (compute once per forward pass)."""
        return self.g * self.v / self.v.norm()

    def forward(self, query, keys, memory, v):
        """query (1, U), keys = memory_layer(memory) (1, S, U), memory (1, S, U) -> context (1, U)."""
        score = (v * torch.tanh(keys + self.query_layer(query).unsqueeze(1) + self.b)).sum(-1)
        alpha = torch.softmax(score, dim=-1)
        return torch.bmm(alpha.unsqueeze(1), memory).squeeze(1)


class GNMT(nn.Module):
    """Teacher-forced GNMT encoder-decoder: source (1, S), target (1, T) int64 -> logits (1, T, vocab)."""

    def __init__(self, vocab: int = NMT_VOCAB, units: int = NMT_UNITS):
        super().__init__()
        self.src_embedding = nn.Embedding(vocab, units)
        self.tgt_embedding = nn.Embedding(vocab, units)
        self.enc_bi = nn.LSTM(units, units, batch_first=True, bidirectional=True)
        self.enc = nn.ModuleList([nn.LSTM(w, units, batch_first=True) for w in (2 * units, units, units)])
        self.attention = NormedBahdanau(units)
        self.dec_bottom = LSTMStep(2 * units, units)
        self.dec = nn.ModuleList([nn.LSTM(2 * units, units, batch_first=True) for _ in range(3)])
        self.projection = nn.Linear(units, vocab, bias=False)
        self.units = units

    def encode(self, source_ids):
        """Token ids (1, S) -> memory (1, S, U) and the final (h, c) of each of the 4 layers."""
        out, (h, c) = self.enc_bi(self.src_embedding(source_ids))
        states = [(h[1:], c[1:])]  # the backward direction's state seeds decoder layer 1 (as TF NMT does)
        for i, lstm in enumerate(self.enc):
            y, state = lstm(out)
            out = y if i == 0 else out + y  # residual on the top two layers
            states.append(state)
        return out, states

    def forward(self, source_ids, target_ids):
        memory, states = self.encode(source_ids)
        keys, v = self.attention.memory_layer(memory), self.attention.scorer()
        emb = self.tgt_embedding(target_ids)
        h, c = states[0][0][0], states[0][1][0]
        context = torch.zeros_like(h)
        bottom, contexts = [], []
        for t in range(emb.shape[1]):
            h, c = self.dec_bottom(torch.cat([emb[:, t], context], dim=-1), h, c)
            context = self.attention(h, keys, memory, v)
            bottom.append(h)
            contexts.append(context)
        y, context = torch.stack(bottom, 1), torch.stack(contexts, 1)
        for i, lstm in enumerate(self.dec):
            z, _ = lstm(torch.cat([y, context], dim=-1), states[i + 1])
            y = z if i == 0 else y + z
        return self.projection(y)


@torch.no_grad()
def gnmt(vocab: int = NMT_VOCAB, units: int = NMT_UNITS) -> GNMT:
    """The study's NMT with TF NMT's initialisation: every weight uniform in [-0.1, 0.1]; g = 1/sqrt(units).

    Smaller ``vocab``/``units`` give the same graph with smaller tensors (for fast tests).
    """
    model = GNMT(vocab, units)
    for p in model.parameters():
        p.uniform_(-0.1, 0.1)
    model.attention.g.fill_(units ** -0.5)
    return model


def gnmt_example_inputs(vocab: int = NMT_VOCAB) -> tuple:
    """Token ids from torch's global RNG: source (1, NMT_SRC_LEN) and target (1, NMT_TGT_LEN), int64."""
    return (torch.randint(0, vocab, (1, NMT_SRC_LEN)), torch.randint(0, vocab, (1, NMT_TGT_LEN)))
