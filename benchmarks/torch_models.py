"""The zoo's architectures in PyTorch, written the usual way: stock `nn` layers, packed sequences for encoders.

Batches are padded to their longest row (`pad_sequence`), in data order, no
bucketing. Each model has `collate(rows)` (the workload's examples → tensors)
and `loss(batch)`. Sizes match the zoo's; parameter counts differ only where
PyTorch's RNNs carry two bias vectors (LSTM: 8 × units against Keras's 4 ×
units) or, for Cho's reset-before GRU, where `nn.GRU` has only the
reset-after form (the zoo's is the paper's; the arithmetic per step is the
same).
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
    def __init__(self, vocabulary_size, classes, embedding, gru, attention):
        super().__init__()
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
    def __init__(self, vocabulary_size, units, num_layers):
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
    def __init__(self, units, num_layers, components):
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
        y_hat = self.output(self.stack(x))
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


def _collate_translation(rows, reverse_source=False):
    return (_pad([s[::-1] if reverse_source else s for s, _, _ in rows]), _pad([d for _, d, _ in rows]),
            _pad([t for _, _, t in rows]))


def _lengths(ids):
    return (ids != 0).sum(1)


class Sutskever(nn.Module):
    def __init__(self, vocabulary_size, embedding, units, num_layers):
        super().__init__()
        self.source_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.target_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.encoder = nn.LSTM(embedding, units, num_layers, batch_first=True)
        self.decoder = nn.LSTM(embedding, units, num_layers, batch_first=True)
        self.projection = nn.Linear(units, vocabulary_size)

    @staticmethod
    def collate(rows):
        return _collate_translation(rows, reverse_source=True)

    def loss(self, batch):
        source, decoder_inputs, targets = batch
        _, state = _packed(self.encoder, self.source_embedding(source), _lengths(source))
        y, _ = self.decoder(self.target_embedding(decoder_inputs), state)
        logits = self.projection(y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


class Cho(nn.Module):
    def __init__(self, vocabulary_size, embedding, units, maxout):
        super().__init__()
        self.maxout_units = maxout
        self.source_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.target_embedding = nn.Embedding(vocabulary_size, embedding, padding_idx=0)
        self.encoder = nn.GRU(embedding, units, batch_first=True)
        self.summary = nn.Linear(units, units)
        self.decoder_start = nn.Linear(units, units)
        self.decoder = nn.GRU(embedding + units, units, batch_first=True)
        self.maxout = nn.Linear(2 * units + embedding, 2 * maxout)
        self.projection = nn.Linear(maxout, vocabulary_size)

    collate = staticmethod(_collate_translation)

    def loss(self, batch):
        source, decoder_inputs, targets = batch
        _, h = _packed(self.encoder, self.source_embedding(source), _lengths(source))
        c = torch.tanh(self.summary(h[-1]))
        y = self.target_embedding(decoder_inputs)
        c_each_step = c.unsqueeze(1).expand(-1, y.shape[1], -1)
        hidden, _ = self.decoder(torch.cat([y, c_each_step], -1), torch.tanh(self.decoder_start(c)).unsqueeze(0))
        pieces = self.maxout(torch.cat([hidden, y, c_each_step], -1))
        logits = self.projection(pieces.reshape(*pieces.shape[:-1], self.maxout_units, 2).amax(-1))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


class GNMT(nn.Module):
    def __init__(self, vocabulary_size, embedding, units, num_layers, attention):
        super().__init__()
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
        x, (h, c) = _packed(self.bottom_encoder, self.source_embedding(source), lengths)
        states = [(h[1:], c[1:])]  # the backward LSTM's
        for n, lstm in enumerate(self.encoder, start=1):
            output, state = _packed(lstm, x, lengths)
            x = output + x if n >= 2 else output
            states.append(state)
        y, _ = self.decoder[0](self.target_embedding(decoder_inputs), states[0])
        scores = torch.tanh(self.keys(x).unsqueeze(1) + self.queries(y).unsqueeze(2)) @ self.v
        context = _masked_softmax(scores, source_mask.unsqueeze(1)) @ x
        for n, lstm in enumerate(self.decoder[1:], start=1):
            output, _ = lstm(torch.cat([y, context], -1), states[n])
            y = output + y if n >= 2 else output
        logits = self.projection(y)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)
