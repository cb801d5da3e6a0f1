"""Trains Graves 2013's handwriting synthesis network (§5), reports validation NLL per line, writes text by hand.

    python recipes/train_graves_synthesis.py --flagfile recipes/configs/graves_synthesis_demo.flags

Reads IAM-OnDB's line strokes and their transcriptions from --data_dir (see
zoo.data.handwriting_text), cleans them, splits them by the IAM task lists
(Graves: train on trainset + testset_t + testset_f, early-stop on testset_v)
where --data_dir/splits/ has them, normalises the pen offsets with the
training split's statistics (§4.2), trains next-point prediction given the
text with the mixture density loss on whole lines with model.fit (progress
bar, TensorBoard, checkpoints, --resume, --strategy), reports the validation
negative log-likelihood of each whole line (nats, normalised offsets, as
Graves's Table 4), writes --sample_text by hand to <model_dir>/sample.png and
.svg, and exports a SavedModel whose `serving_default` writes any text.

Training: Adam with gradient-norm clipping (--clipnorm), as the public
re-implementations do, not Graves's RMSProp with derivatives clipped
elementwise to [-100, 100] (outputs) and [-10, 10] (LSTM): Keras clips
gradients, not the derivatives inside backpropagation through time.
"""

import json
import os

from absl import flags, logging

import numpy as np
import tensorflow as tf

from zoo import export, strokes, text, training
from zoo.data import demo, handwriting, handwriting_text
from zoo.layers.mdn import MixtureDensityLoss
from zoo.models import GravesSynthesisModel

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "demo", ("demo", "iam_ondb"),
                  "demo: generated letters in IAM-OnDB's layout; iam_ondb: IAM-OnDB lineStrokes + ascii.")
flags.DEFINE_string("data_dir", "data/graves_synthesis_demo",
                    "Folder holding lineStrokes-all.tar.gz (or lineStrokes/) and ascii-all.tar.gz (or ascii/).")
flags.DEFINE_string("splits_dir", None, "IAM task split lists; default <data_dir>/splits, else split by form.")
flags.DEFINE_integer("max_lines", 0, "Read only the first this many lines (by name); 0 = all.", lower_bound=0)
flags.DEFINE_integer("max_points", 1500, "Points kept per training line (longer lines are cut).", lower_bound=2)
flags.DEFINE_integer("units", 400, "LSTM units per layer.", lower_bound=1)
flags.DEFINE_integer("num_layers", 3, "LSTM layers.", lower_bound=1)
flags.DEFINE_integer("num_components", 20, "Mixture components.", lower_bound=1)
flags.DEFINE_integer("window_components", 10, "Soft window components.", lower_bound=1)
flags.DEFINE_float("window_step", 0.05, "Characters the window moves a point at the start of training: about "
                   "1 / the data's points per character (IAM-OnDB: 22).", lower_bound=1e-6)
flags.DEFINE_string("sample_text", "to be or not to be", "Text written by hand after training.")
flags.DEFINE_float("sample_bias", 1.0, "Sampling bias b (§5.4) of the sample written after training.", lower_bound=0.0)
training.define_run_flags("runs/graves_synthesis", "savedmodels/graves_synthesis", optimizer="adam",
                          learning_rate=1e-3, batch_size=32)


def read_lines():
    """(train, valid) transcribed lines, cleaned and split; logs what was dropped and how it was split."""
    if FLAGS.dataset == "demo" and not os.path.isdir(os.path.join(FLAGS.data_dir, demo.IAM_ONDB_TREE)):
        demo.write_demo_synthesis(FLAGS.data_dir)
    train, valid, report = handwriting_text.read_synthesis_lines(FLAGS.data_dir, FLAGS.splits_dir, FLAGS.max_lines)
    logging.info("%s: %d lines kept (%d forms skipped: text and strokes do not pair; dropped %s); split %s "
                 "(%d lines on no list): %d train / %d valid", FLAGS.dataset, report["kept"],
                 len(report["skipped_forms"]), report["dropped"], report["split"], report["unlisted_lines"],
                 len(train), len(valid))
    if not (train and valid):
        raise training.RecipeError(f"{FLAGS.data_dir}: too few lines to split into train/valid "
                                   f"({len(train)}/{len(valid)} lines)")
    return train, valid


def validation_negative_log_likelihood(model, dataset, lines):
    """Mean over lines of each whole line's NLL (nats, normalised offsets), and per point."""

    # One trace for every batch shape: the window's scan runs as a graph, not step by step in Python.
    @tf.function(input_signature=[tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None])])
    def batch_total(inputs, char_ids, targets, weights):
        nll = model.mixture_density.negative_log_likelihood(targets, model((inputs, char_ids))) * weights
        return tf.reduce_sum(nll), tf.reduce_sum(weights)

    total, points = 0.0, 0.0
    for (inputs, char_ids), targets, weights in dataset:
        batch_nll, batch_points = batch_total(inputs, char_ids, targets, weights)
        total, points = total + float(batch_nll), points + float(batch_points)
    return total / len(lines), total / points


def train_and_export():
    backup_dir = training.prepare_run()
    train, valid = read_lines()
    # The split is deterministic, so a resumed run recomputes the same statistics.
    mean, std = handwriting.offset_statistics(train)
    train, valid = (handwriting.normalise(part, mean, std) for part in (train, valid))
    tokenizer = training.run_tokenizer(text.CharacterTokenizer, lambda: list(handwriting_text.SYNTHESIS_ALPHABET))
    datasets = [handwriting_text.synthesis_dataset(part, tokenizer, FLAGS.batch_size, shuffle=shuffle,
                                                   seed=FLAGS.seed, max_points=FLAGS.max_points)
                for part, shuffle in ((train, True), (valid, False))]

    with training.strategy().scope():
        model = GravesSynthesisModel(tokenizer.vocabulary_size, FLAGS.units, FLAGS.num_layers, FLAGS.num_components,
                                     FLAGS.window_components, FLAGS.window_step)
        model(model.example_input())
        # Mean over real points: padding has weight 0 and does not dilute the loss.
        training.compile_model(model, MixtureDensityLoss(FLAGS.num_components, reduction="mean_with_sample_weight"),
                               datasets[0])

    training.fit(model, *datasets, backup_dir)
    if not training.is_chief():
        return
    # Evaluated and sampled in float32, as exported (the model may have trained in mixed precision).
    inference = export.portable_copy(model)
    per_line, per_point = validation_negative_log_likelihood(inference, datasets[1], valid)
    print(f"validation NLL: {per_line:.1f} nats per line, {per_point:.4f} per point  ({len(valid)} lines)")

    char_ids = tokenizer([FLAGS.sample_text])
    written = inference.sample(char_ids, int(char_ids.shape[1]) * export.synthesis.POINTS_PER_CHARACTER,
                               FLAGS.sample_bias, FLAGS.seed)
    length = int(written["lengths"][0])
    sample = written["strokes"].numpy()[0, :length] * np.array([*std, 1.0], np.float32) + np.array([*mean, 0.0],
                                                                                                   np.float32)
    pictures = [os.path.join(FLAGS.model_dir, f"sample.{kind}") for kind in ("png", "svg")]
    for picture in pictures:
        strokes.save(sample, picture)
    print(f"sample: {FLAGS.sample_text!r} in {length} points (finished: {bool(written['finished'][0])}):",
          " ".join(pictures))

    model.save(os.path.join(FLAGS.model_dir, "graves_synthesis.keras"))
    path = export.export_synthesis(model, tokenizer, mean, std, FLAGS.export_dir, tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "valid_nll_per_line": per_line, "valid_nll_per_point": per_point,
                   "valid_lines": len(valid), "train_lines": len(train), "offset_mean": mean, "offset_std": std,
                   "export": path}, f, indent=2)
    print(f"exported: {path}")


if __name__ == "__main__":
    training.main("train_graves_synthesis", train_and_export)
