"""The training workloads: each zoo model at a fixed size on its real data set, three ways.

A workload holds one data set, tokenised once, and hands out the same
architecture as
- `zoo`: the zoo's model class; `zoo_dataset` is the recipe's tf.data
  pipeline (bucketed by length), whose batches the headline ratios feed, as
  the same numpy arrays, to all three;
- `plain`: a Keras functional model written the obvious way; its own input
  (the "as each user would write it" column) is numpy arrays padded to the
  data set's maximum length (`keras.utils.pad_sequences`);
- `torch`: the same layers in PyTorch (`torch_model(pack=...)`); its own
  input is `torch_rows` padded to each batch's longest row.

`count(batch)` is the work a batch holds, in the workload's unit: real
(non-padding) source + target tokens, characters, pen points or words,
so that padding never counts as throughput. `flops(batch)` is a training
step's matrix-product operations at the batch's padded shapes (`flops`), and
`recurrent_gemm(batch)` the per-step products of the model's main recurrent
layer, `(rows, features, units, gates, steps)`: the reference the achieved
rate is compared with.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from zoo import text
from zoo.data import demo, documents, handwriting, parallel, text_corpus
from zoo.layers.mdn import MixtureDensityLoss
from zoo.models import (ChoEncoderDecoder, GNMT, GravesHandwritingModel, GravesTextModel,
                        HierarchicalAttentionNetwork, SutskeverSeq2Seq)

import flops
import plain_keras
import torch_models

BATCH_SIZE = 64


@dataclasses.dataclass
class Workload:
    name: str
    unit: str
    size: str           # the model's size, for the table
    data: str           # the data set it ran on
    zoo_model: object   # () -> compiled-ready keras.Model
    zoo_loss: object
    zoo_dataset: object  # tf.data.Dataset of the recipe's batches
    plain_model: object
    plain_arrays: tuple  # (x, y[, sample_weight]) numpy, padded to the maximum
    torch_model: object  # (pack=bool) -> a torch_models model
    torch_rows: list     # examples the torch batches are cut from
    count: object        # batch (any of the three forms) -> units of work
    flops: object        # zoo batch (numpy) -> matrix-product operations of one training step
    recurrent_gemm: object  # zoo batch -> (rows, features, units, gates, steps) of the main recurrent layer


def _tokens(*arrays):
    return int(sum(np.count_nonzero(np.asarray(a)) for a in arrays))


def _dataset_path(datasets_dir, folder, *names):
    path = os.path.join(datasets_dir, folder)
    return path if all(os.path.exists(os.path.join(path, n)) for n in names) else None


def han(datasets_dir, scratch, max_documents=5000):
    path = _dataset_path(datasets_dir, "imdb_reviews", "aclImdb_train_test.tar.gz")
    if path:
        train, _ = documents.load_documents("imdb", path)
        # A seeded sample: the archive lists the reviews by label.
        keep = np.random.default_rng(1).permutation(len(train))[:max_documents]
        train = documents.Documents([train.texts[i] for i in keep], [train.labels[i] for i in keep],
                                    train.class_names)
        data = f"IMDB reviews, {len(train):,} of the training split"
    else:
        train, _ = documents.load_documents("demo", os.path.join(scratch, "han_demo"))
        data = "generated demo documents"
    sentences, words, vocabulary_size, embedding, gru, attention = 20, 40, 20000, 200, 50, 100
    vocabulary = text.build_vocabulary(train.texts, vocabulary_size)
    tokenizer = text.DocumentTokenizer(vocabulary, sentences, words)
    classes = len(train.class_names)
    padded = text.DocumentTokenizer(vocabulary, sentences, words, pad_to_max=True)
    x = padded(tf.constant(train.texts)).numpy()
    y = np.asarray(train.labels, np.int32)
    return Workload(
        "han", "words", f"emb {embedding}, GRU {gru}×2, attention {attention}, vocab {len(vocabulary)}", data,
        lambda: HierarchicalAttentionNetwork(len(vocabulary), classes, embedding, gru, attention),
        "sparse_categorical_crossentropy",
        documents.document_dataset(train, tokenizer, BATCH_SIZE, shuffle=True, seed=1),
        lambda: plain_keras.han(len(vocabulary), classes, None, None, embedding, gru, attention),
        (x, y),
        lambda pack=True: torch_models.HAN(len(vocabulary), classes, embedding, gru, attention, pack),
        list(zip(x, y)),
        lambda batch: _tokens(batch[0]),  # real words: not padded ones, nor padded sentences
        lambda batch: flops.training(flops.han(*batch[0].shape, embedding, gru, attention, classes)),
        # the word GRU: one row a sentence, padded ones too
        lambda batch: (batch[0].shape[0] * batch[0].shape[1], embedding, gru, 3, batch[0].shape[2]))


def graves_text(datasets_dir, scratch):
    path = _dataset_path(datasets_dir, "ptb", "ptb.char.train.txt")
    if path:
        train, _, _ = text_corpus.read_corpus("ptb_char", path)
        data = "PTB characters"
    else:
        train, _, _ = text_corpus.read_corpus("demo", os.path.join(scratch, "text_demo"))
        data = "generated demo text"
    units, layers, length = 256, 2, 100
    vocabulary = text.build_character_vocabulary(train)
    ids = text.CharacterTokenizer(vocabulary).encode(train)
    windows = len(ids) // (length + 1)
    rows = ids[: windows * (length + 1)].reshape(windows, length + 1)
    x, y = rows[:, :-1], rows[:, 1:]
    return Workload(
        "graves_text", "characters", f"LSTM {units}×{layers} (skip), window {length}", data,
        lambda: GravesTextModel(len(vocabulary), units=units, num_layers=layers),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        text_corpus.window_dataset(ids, length, BATCH_SIZE, shuffle=True, seed=1),
        lambda: plain_keras.graves_text(len(vocabulary), length, units, layers),
        (x, y),
        lambda pack=True: torch_models.GravesText(len(vocabulary), units, layers),
        list(zip(x, y)),
        lambda batch: _tokens(batch[-1]),
        # one-hot characters: a real product with the first layer's kernel
        lambda batch: flops.training(flops.graves(*batch[0].shape, len(vocabulary), units, layers, len(vocabulary))),
        lambda batch: (batch[0].shape[0], len(vocabulary) + units, units, 4, batch[0].shape[1]))


def graves_handwriting(datasets_dir, scratch, max_lines):
    path = _dataset_path(datasets_dir, "iam_ondb", handwriting.ARCHIVE)
    if path:
        lines = handwriting.read_iam_ondb(path, max_lines)
        data = f"IAM-OnDB, first {len(lines):,} lines"
    else:
        folder = os.path.join(scratch, "handwriting_demo")
        demo.write_demo_strokes(folder)
        lines = handwriting.read_iam_ondb(folder)
        data = "generated demo strokes"
    units, layers, components, length = 256, 3, 20, 300
    lines = handwriting.normalise(lines, *handwriting.offset_statistics(lines))
    x, y, w = handwriting.next_point_windows(lines, length)
    return Workload(
        "graves_handwriting", "points", f"LSTM {units}×{layers} (skip), {components} components, window {length}",
        data,
        lambda: GravesHandwritingModel(units, layers, components),
        MixtureDensityLoss(components, reduction="mean_with_sample_weight"),
        handwriting.stroke_dataset(lines, length, BATCH_SIZE, shuffle=True, seed=1),
        lambda: plain_keras.graves_handwriting(length, units, layers, components),
        (x, y, w),
        lambda pack=True: torch_models.GravesHandwriting(units, layers, components),
        list(zip(x, y, w)),
        lambda batch: int(np.sum(np.asarray(batch[-1]))),
        lambda batch: flops.training(flops.graves(*batch[0].shape[:2], 3, units, layers, 1 + 6 * components)),
        lambda batch: (batch[0].shape[0], 3 + units, units, 4, batch[0].shape[1]))


class TranslationData:
    """Multi30k En→De (or the generated demo pairs), SentencePiece pieces learnt once for the three translation models."""

    max_length = 50

    def __init__(self, datasets_dir, scratch, vocabulary_pairs=10000):
        path = _dataset_path(datasets_dir, os.path.join("multi30k", "task1", "raw"), "train.en.gz")
        if path:
            train, _, test = parallel.read_parallel("multi30k", path, "en", "de")
            self.data = "Multi30k En→De"
        else:
            train, _, test = parallel.read_parallel("demo", os.path.join(scratch, "translation_demo"))
            self.data = "generated demo pairs"
        self.train, self.test = train, test
        self.tokenizer = text.SubwordTokenizer(text.build_subword_model(
            train.sources[:vocabulary_pairs] + train.targets[:vocabulary_pairs], 8000))
        self.vocabulary_size = self.tokenizer.vocabulary_size
        # The rows the plain and torch paths train on: source, decoder input, target, unpadded.
        source = self.tokenizer(tf.constant(train.sources))[:, : self.max_length].to_list()
        target = self.tokenizer(tf.constant(train.targets))[:, : self.max_length - 1].to_list()
        self.rows = [(s, [self.tokenizer.start_id] + t, t + [self.tokenizer.end_id])
                     for s, t in zip(source, target) if s]

    def dataset(self):
        return parallel.translation_dataset(self.train, self.tokenizer, BATCH_SIZE, self.max_length, shuffle=True,
                                            seed=1)

    def arrays(self):
        """Every pair padded to `max_length` (Sutskever's models reverse their sources themselves, as the zoo's)."""
        pad = lambda rows: keras.utils.pad_sequences(rows, self.max_length, padding="post", truncating="post")
        return (pad([s for s, _, _ in self.rows]), pad([d for _, d, _ in self.rows])), \
            pad([t for _, _, t in self.rows])


def _translation(name, size, data, zoo_model, plain_model, torch_model, flops_of, recurrent_gemm):
    """`flops_of(batch, source_steps, target_steps)`; `recurrent_gemm` (features, units, gates) at batch × target
    steps."""
    shapes = lambda batch: (batch[0][0].shape[0], batch[0][0].shape[1], batch[0][1].shape[1])
    return Workload(
        name, "tokens", size, data.data, zoo_model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        data.dataset(), plain_model, data.arrays(), torch_model, data.rows,
        # source + target tokens (the target counted once: its END, not its START)
        lambda batch: _tokens(batch[0][0], batch[-1]),
        lambda batch: flops.training(flops_of(*shapes(batch))),
        lambda batch: (shapes(batch)[0], *recurrent_gemm, shapes(batch)[2]))


def sutskever(data):
    v, embedding, units, layers = data.vocabulary_size, 256, 256, 2
    return _translation("sutskever", f"LSTM {units}×{layers} + {layers}, emb {embedding}, vocab {v}", data,
                        lambda: SutskeverSeq2Seq(v, embedding, units, layers),
                        lambda: plain_keras.sutskever(v, None, embedding, units, layers),
                        lambda pack=True: torch_models.Sutskever(v, embedding, units, layers, pack),
                        lambda b, s, t: flops.sutskever(b, s, t, embedding, units, layers, v), (units, units, 4))


def cho(data):
    v, embedding, units, maxout = data.vocabulary_size, 100, 512, 256
    return _translation("cho", f"GRU {units} + {units}, emb {embedding}, maxout {maxout}, vocab {v}", data,
                        lambda: ChoEncoderDecoder(v, embedding, units, maxout),
                        lambda: plain_keras.cho(v, None, embedding, units, maxout),
                        lambda pack=True: torch_models.Cho(v, embedding, units, maxout, pack),
                        # the decoder GRU: e(y) in the loop, c's product once a sentence
                        lambda b, s, t: flops.cho(b, s, t, embedding, units, maxout, v), (embedding, units, 3))


def gnmt(data):
    v, embedding, units, layers, attention = data.vocabulary_size, 256, 256, 3, 256
    return _translation("gnmt", f"LSTM {units}, {layers} + {layers} layers, attention {attention}, vocab {v}", data,
                        lambda: GNMT(v, embedding, units, layers, layers, attention),
                        lambda: plain_keras.gnmt(v, None, embedding, units, layers, attention),
                        lambda pack=True: torch_models.GNMT(v, embedding, units, layers, attention, pack),
                        # the upper decoder layers, over [y; a]
                        lambda b, s, t: flops.gnmt(b, s, t, embedding, units, layers, attention, v),
                        (2 * units, units, 4))
