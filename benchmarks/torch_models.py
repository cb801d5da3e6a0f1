"""The zoo's architectures in PyTorch: stock `nn` layers, and Cho's reset-before GRU written out.

Each model has `collate(rows)` (the workload's examples → tensors, padded to
the batch's longest row, for the "as each user would write it" column) and
`loss(batch)`, and runs one of two ways:

- `pack=False` (the headline ratios): the zoo's own padded batches and masks
  (`from_arrays`), no packing, so every recurrent layer runs every padded
  step, as Keras does. Padded steps keep the state, as under Keras's masking:
  a forward layer whose outputs only are used runs the stock ATen kernel over
  the whole batch (padding is at the end, so the real steps' outputs are
  exact; for `nn.LSTM` that is oneDNN's fused RNN); a backward direction runs
  it over each row reversed within its length; an LSTM whose last (h, c)
  starts a decoder runs `_masked_lstm`, a loop over time with one matrix
  product for the input of every step and the recurrent product in the loop
  (`torch.where` keeps the state on padded steps), since a stock call would
  end on the padding.
- `pack=True` (as written before): encoders over packed sequences (only the
  real steps), HAN's empty sentences dropped.

Cho's GRUs are `ResetBeforeGRU` both ways (Keras `reset_after=False`, the
zoo's form; `nn.GRU` has only the reset-after one). Parameter counts differ
from Keras's only by the second bias vector of `nn.LSTM` and `nn.GRU`
(4 × units and 3 × units a layer and direction).
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import rnn


def _pad(sequences, dtype=torch.long):
    return rnn.pad_sequence([torch.as_tensor(np.asarray(s), dtype=dtype) for s in sequences], batch_first=True)


def _masked_softmax(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)


def from_arrays(batch):
    """One of the zoo's numpy batches (any nesting) → a flat tuple of tensors: ids as int64, the rest float32.

    Padding must come last along every axis (a mask is a prefix of each row),
    which `reverse_within` and the stock kernels' exact real steps rely on.
    """
    flat, stack = [], [batch]
    while stack:
        part = stack.pop(0)
        if isinstance(part, (tuple, list)):
            stack[:0] = list(part)
        else:
            flat.append(np.asarray(part))
    tensors = []
    for a in flat:
        if np.issubdtype(a.dtype, np.integer):
            real = a != 0
            while real.ndim >= 2:
                if np.any(np.diff(real.astype(np.int8), axis=-1) > 0):
                    raise ValueError("padding inside a row: masks must be prefixes")
                real = real.any(-1)
            tensors.append(torch.tensor(a, dtype=torch.long))  # a copy: the pipeline's arrays are read-only
        else:
            tensors.append(torch.tensor(a, dtype=torch.float32))
    return tuple(tensors)


def reverse_within(x, lengths):
    """Each row's first `lengths` steps in reverse order, the rest left in place: x [batch, time(, features)]."""
    steps = torch.arange(x.shape[1]).unsqueeze(0)
    backwards = lengths.unsqueeze(1) - 1 - steps
    index = torch.where(backwards >= 0, backwards, steps)
    if x.dim() == 3:
        index = index.unsqueeze(-1).expand_as(x)
    return x.gather(1, index)


def _weights(module, layer=0, reverse=False):
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _stock(module, x, state=None, layer=0, reverse=False):
    """One direction of one layer of an `nn.LSTM`/`nn.GRU` over every step of x: the kernel `module(x)` calls."""
    params = _weights(module, layer, reverse)
    zeros = x.new_zeros(1, x.shape[0], module.hidden_size)
    if isinstance(module, nn.LSTM):
        output, h, c = torch.lstm(x, state or (zeros, zeros), params, True, 1, 0.0, module.training, False, True)
        return output, (h, c)
    return torch.gru(x, zeros if state is None else state, params, True, 1, 0.0, module.training, False, True)


def _bidirectional(module, x, mask):
    """A bidirectional `nn.GRU`/`nn.LSTM` over every padded step, as Keras's masked `Bidirectional` computes it."""
    lengths = mask.sum(1)
    forward, _ = _stock(module, x)
    backward, _ = _stock(module, reverse_within(x, lengths), reverse=True)
    return torch.cat([forward, reverse_within(backward, lengths)], -1)


def _masked_lstm(module, x, mask, state=None, layer=0, reverse=False):
    """An `nn.LSTM` direction as Keras runs a masked LSTM: every step computed, padded steps keep (h, c).

    Returns outputs [batch, time, units] and the last real step's (h, c), each [1, batch, units].
    """
    w_ih, w_hh, b_ih, b_hh = _weights(module, layer, reverse)
    projected = F.linear(x, w_ih, b_ih + b_hh)  # the input product of every step at once
    recurrent = w_hh.t()
    if state is None:
        h = c = x.new_zeros(x.shape[0], module.hidden_size)
    else:
        h, c = state[0][0], state[1][0]
    outputs = [None] * x.shape[1]
    for t in (reversed(range(x.shape[1])) if reverse else range(x.shape[1])):
        i, f, g, o = torch.addmm(projected[:, t], h, recurrent).chunk(4, 1)
        new_c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        new_h = torch.sigmoid(o) * torch.tanh(new_c)
        real = mask[:, t, None]
        c, h = torch.where(real, new_c, c), torch.where(real, new_h, h)
        outputs[t] = h
    return torch.stack(outputs, 1), (h.unsqueeze(0), c.unsqueeze(0))


class ResetBeforeGRU(nn.Module):
    """Cho et al. 2014's GRU, Keras's `reset_after=False` (the zoo's `ContextGRU`), optionally fed a context.

        z, r = σ(W_zr x_t + C_zr c + U_zr h_{t-1} + b_zr)
        h̃_t = tanh(W_h x_t + C_h c + U_h (r ⊙ h_{t-1}) + b_h)
        h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃_t

    One bias, as Keras's (so the parameter count is Keras's); W x_t for every
    step is one matrix product before the loop, C c one a sequence; the loop
    holds the recurrent products. Padded steps (mask False) keep the state.
    """

    def __init__(self, features, units, context_features=0):
        super().__init__()
        self.features, self.units = features, units
        bound = 1 / math.sqrt(units)  # nn.GRU's initialisation
        self.weight_ih = nn.Parameter(torch.empty(3 * units, features + context_features).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(3 * units, units).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(3 * units).uniform_(-bound, bound))

    def forward(self, x, mask=None, h=None, context=None):
        """x [batch, time, features] → (outputs [batch, time, units], last state [batch, units])."""
        u = self.units
        projected = F.linear(x, self.weight_ih[:, : self.features], self.bias)
        if context is not None:
            projected = projected + F.linear(context, self.weight_ih[:, self.features:]).unsqueeze(1)
        gates_kernel, candidate_kernel = self.weight_hh[: 2 * u].t(), self.weight_hh[2 * u:].t()
        h = x.new_zeros(x.shape[0], u) if h is None else h
        outputs = []
        for t in range(x.shape[1]):
            step = projected[:, t]
            z, r = torch.sigmoid(torch.addmm(step[:, : 2 * u], h, gates_kernel)).chunk(2, 1)
            candidate = torch.tanh(torch.addmm(step[:, 2 * u:], r * h, candidate_kernel))
            new = z * h + (1 - z) * candidate
            h = new if mask is None else torch.where(mask[:, t, None], new, h)
            outputs.append(h)
        return torch.stack(outputs, 1), h


class AttentionPooling(nn.Module):
    """HAN's word/sentence attention: u = tanh(W h + b), α = softmax(uᵀ u_w), Σ α h."""

    def __init__(self, features, units):
        super().__init__()
        self.projection = nn.Linear(features, units)
        self.context = nn.Parameter(torch.randn(units) * 0.05)

    def forward(self, h, mask):
        weights = _masked_softmax(torch.tanh(self.projection(h)) @ self.context, mask)
        return (h * weights.unsqueeze(-1)).sum(1)


def _packed(gru_or_lstm, x, lengths):
    packed = rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    output, state = gru_or_lstm(packed)
    return rnn.pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])[0], state


class HAN(nn.Module):
    def __init__(self, vocabulary_size, classes, embedding, gru, attention, pack=True):
        super().__init__()
        self.pack = pack
        self.embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.word_encoder = nn.GRU(embedding, gru, batch_first=True, bidirectional=True)
        self.word_attention = AttentionPooling(2 * gru, attention)
        self.sentence_encoder = nn.GRU(2 * gru, gru, batch_first=True, bidirectional=True)
        self.sentence_attention = AttentionPooling(2 * gru, attention)
        self.classifier = nn.Linear(2 * gru, classes)

    @staticmethod
    def collate(rows):
        ids = np.stack([r[0] for r in rows])
        sentences = int(np.max(np.count_nonzero(ids.any(-1), axis=1)))
        words = int(np.max(np.count_nonzero(ids, axis=-1)))
        return (torch.as_tensor(ids[:, :sentences, :words], dtype=torch.long),
                torch.as_tensor([int(r[1]) for r in rows], dtype=torch.long))

    def loss(self, batch):
        ids, labels = batch
        b, s, w = ids.shape
        flat = ids.reshape(b * s, w)
        if not self.pack:  # every sentence row, empty ones too, every padded word: the zoo's work
            word_mask = flat != 0
            h = _bidirectional(self.word_encoder, self.embedding(flat), word_mask)
            vectors = self.word_attention(h, word_mask).reshape(b, s, -1)
            sentence_mask = word_mask.reshape(b, s, w).any(-1)
            h = _bidirectional(self.sentence_encoder, vectors, sentence_mask)
            return F.cross_entropy(self.classifier(self.sentence_attention(h, sentence_mask)), labels)
        word_counts = (flat != 0).sum(1)
        real = word_counts > 0  # padded sentences are left out of the word encoder
        h, _ = _packed(self.word_encoder, self.embedding(flat[real]), word_counts[real])
        vectors = torch.zeros(b * s, h.shape[-1])
        vectors[real] = self.word_attention(h, flat[real] != 0)
        sentence_mask = real.reshape(b, s)
        h, _ = _packed(self.sentence_encoder, vectors.reshape(b, s, -1), sentence_mask.sum(1))
        return F.cross_entropy(self.classifier(self.sentence_attention(h, sentence_mask)), labels)


class _SkipStack(nn.Module):
    """Graves's stack: every layer sees the input and the layer below; all layers feed the output."""

    def __init__(self, features, units, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(features + (units if n else 0), units, batch_first=True)
                                    for n in range(num_layers))

    def forward(self, x):
        outputs, below = [], None
        for lstm in self.layers:
            below, _ = lstm(x if below is None else torch.cat([x, below], -1))
            outputs.append(below)
        return torch.cat(outputs, -1)


class GravesText(nn.Module):
    """Windows without padding: the same either way (`pack` is ignored)."""

    def __init__(self, vocabulary_size, units, num_layers, pack=True):
        super().__init__()
        self.vocabulary_size = vocabulary_size
        self.stack = _SkipStack(vocabulary_size, units, num_layers)
        self.output = nn.Linear(units * num_layers, vocabulary_size)

    @staticmethod
    def collate(rows):
        return torch.as_tensor(np.stack([r[0] for r in rows]), dtype=torch.long), \
            torch.as_tensor(np.stack([r[1] for r in rows]), dtype=torch.long)

    def loss(self, batch):
        x, y = batch
        logits = self.output(self.stack(F.one_hot(x, self.vocabulary_size).float()))
        return F.cross_entropy(logits.reshape(-1, self.vocabulary_size), y.reshape(-1))


class GravesHandwriting(nn.Module):
    """Fixed windows (a line's last one zero-padded with weight 0, unmasked, as in Keras): `pack` is ignored."""

    def __init__(self, units, num_layers, components, pack=True):
        super().__init__()
        self.components = components
        self.stack = _SkipStack(3, units, num_layers)
        self.output = nn.Linear(units * num_layers, 1 + 6 * components)

    @staticmethod
    def collate(rows):
        return tuple(torch.as_tensor(np.stack([r[i] for r in rows])) for i in range(3))

    def loss(self, batch):
        """Graves 2013 eq. (26), mean over points of weight 1."""
        x, targets, weights = batch
        with torch.autocast("cpu", enabled=False):  # float32 under autocast, as the zoo's mixture density output
            y_hat = self.output(self.stack(x).float())
        m = self.components
        e_hat, pi_hat, mu1, mu2, s1, s2, rho_hat = torch.split(y_hat, [1, m, m, m, m, m, m], dim=-1)
        rho = torch.tanh(rho_hat)
        z1 = (targets[..., :1] - mu1) * torch.exp(-s1)
        z2 = (targets[..., 1:2] - mu2) * torch.exp(-s2)
        one_minus_rho2 = (1 - rho ** 2).clamp_min(1e-6)
        log_normal = (-math.log(2 * math.pi) - s1 - s2 - 0.5 * torch.log(one_minus_rho2)
                      - (z1 ** 2 + z2 ** 2 - 2 * rho * z1 * z2) / (2 * one_minus_rho2))
        log_mixture = torch.logsumexp(torch.log_softmax(pi_hat, -1) + log_normal, -1)
        eos = targets[..., 2] > 0.5
        log_eos = torch.where(eos, F.logsigmoid(-e_hat[..., 0]), F.logsigmoid(e_hat[..., 0]))
        return -((log_mixture + log_eos) * weights).sum() / weights.sum()


def _collate_translation(rows):
    return _pad([s for s, _, _ in rows]), _pad([d for _, d, _ in rows]), _pad([t for _, _, t in rows])


def _lengths(ids):
    return (ids != 0).sum(1)


class Sutskever(nn.Module):
    def __init__(self, vocabulary_size, embedding, units, num_layers, pack=True):
        super().__init__()
        self.pack = pack
        self.source_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.target_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.encoder = nn.LSTM(embedding, units, num_layers, batch_first=True)
        self.decoder = nn.LSTM(embedding, units, num_layers, batch_first=True)
        self.projection = nn.Linear(units, vocabulary_size)

    collate = staticmethod(_collate_translation)

    def loss(self, batch):
        source, decoder_inputs, targets = batch
        lengths = _lengths(source)
        x = self.source_embedding(reverse_within(source, lengths))  # §3.3: the source read backwards
        if self.pack:
            _, state = _packed(self.encoder, x, lengths)
        else:
            hs, cs = [], []
            for layer in range(self.encoder.num_layers):
                x, (h, c) = _masked_lstm(self.encoder, x, source != 0, layer=layer)
                hs.append(h)
                cs.append(c)
            state = (torch.cat(hs), torch.cat(cs))
        # Padding comes last: the decoder's real steps are exact over the padded batch.
        y, _ = self.decoder(self.target_embedding(decoder_inputs), state)
        logits = self.projection(y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


class Cho(nn.Module):
    """Reset-before GRUs, masked, over the padded batch either way (a hand-written GRU takes no packed input)."""

    def __init__(self, vocabulary_size, embedding, units, maxout, pack=True):
        super().__init__()
        self.maxout_units = maxout
        self.source_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.target_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.encoder = ResetBeforeGRU(embedding, units)
        self.summary = nn.Linear(units, units)
        self.decoder_start = nn.Linear(units, units)
        self.decoder = ResetBeforeGRU(embedding, units, context_features=units)  # over [e(y); c], c once
        self.maxout = nn.Linear(2 * units + embedding, 2 * maxout)
        self.projection = nn.Linear(maxout, vocabulary_size)

    collate = staticmethod(_collate_translation)

    def loss(self, batch):
        source, decoder_inputs, targets = batch
        _, h = self.encoder(self.source_embedding(source), source != 0)
        c = torch.tanh(self.summary(h))
        y = self.target_embedding(decoder_inputs)
        hidden, _ = self.decoder(y, decoder_inputs != 0, torch.tanh(self.decoder_start(c)), context=c)
        c_each_step = c.unsqueeze(1).expand(-1, y.shape[1], -1)
        pieces = self.maxout(torch.cat([hidden, y, c_each_step], -1))
        logits = self.projection(pieces.reshape(*pieces.shape[:-1], self.maxout_units, 2).amax(-1))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


class GNMT(nn.Module):
    def __init__(self, vocabulary_size, embedding, units, num_layers, attention, pack=True):
        super().__init__()
        self.pack = pack
        self.source_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.target_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.bottom_encoder = nn.LSTM(embedding, units, batch_first=True, bidirectional=True)
        self.encoder = nn.ModuleList(nn.LSTM(2 * units if n == 1 else units, units, batch_first=True)
                                     for n in range(1, num_layers))
        self.decoder = nn.ModuleList(nn.LSTM(embedding if n == 0 else 2 * units, units, batch_first=True)
                                     for n in range(num_layers))
        self.keys = nn.Linear(units, attention)                # W1 x + b
        self.queries = nn.Linear(units, attention, bias=False)  # W2 y
        self.v = nn.Parameter(torch.randn(attention) * 0.05)
        self.projection = nn.Linear(units, vocabulary_size)

    collate = staticmethod(_collate_translation)

    def loss(self, batch):
        source, decoder_inputs, targets = batch
        lengths, source_mask = _lengths(source), source != 0
        embedded = self.source_embedding(source)
        if self.pack:
            x, (h, c) = _packed(self.bottom_encoder, embedded, lengths)
            states = [(h[1:], c[1:])]  # the backward LSTM's
        else:
            forward, _ = _stock(self.bottom_encoder, embedded)
            backward, state = _masked_lstm(self.bottom_encoder, embedded, source_mask, reverse=True)
            x, states = torch.cat([forward, backward], -1), [state]
        for n, lstm in enumerate(self.encoder, start=1):
            output, state = _packed(lstm, x, lengths) if self.pack else _masked_lstm(lstm, x, source_mask)
            x = output + x if n >= 2 else output
            states.append(state)
        # [batch, T, S, attention] like the zoo's AdditiveAttention and Keras's: every query against every key.
        y, _ = self.decoder[0](self.target_embedding(decoder_inputs), states[0])
        scores = torch.tanh(self.keys(x).unsqueeze(1) + self.queries(y).unsqueeze(2)) @ self.v
        context = _masked_softmax(scores, source_mask.unsqueeze(1)) @ x
        for n, lstm in enumerate(self.decoder[1:], start=1):
            output, _ = lstm(torch.cat([y, context], -1), states[n])
            y = output + y if n >= 2 else output
        logits = self.projection(y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)
