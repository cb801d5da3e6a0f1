"""Trains Graves 2013's unconditional handwriting model, reports test NLL per line, exports sampling.

    python recipes/train_graves_handwriting.py --flagfile recipes/configs/graves_handwriting_demo.flags

Reads IAM-OnDB's line strokes from --data_dir (see zoo.data.handwriting),
splits by form, normalises the pen offsets with the training split's
statistics, trains next-point prediction with the mixture density loss
(eq. 26) on windows of --sequence_length points with model.fit (progress
bar, TensorBoard, a checkpoint each epoch, --resume), reports the negative
log-likelihood of each whole test line, writes sampled handwriting to
<model_dir>/sample.png and .svg, and exports a SavedModel whose `sample`
signature takes `steps`, `bias` and `seed`.
"""

import json
import os

from absl import flags, logging

import numpy as np
import tensorflow as tf

from zoo import export, strokes, training
from zoo.data import demo, handwriting
from zoo.layers.mdn import MixtureDensityLoss
from zoo.models import GravesHandwritingModel

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "demo", ("demo", "iam_ondb"), "demo: generated strokes; iam_ondb: IAM-OnDB lineStrokes.")
flags.DEFINE_string("data_dir", "data/graves_handwriting_demo",
                    "Folder holding lineStrokes-all.tar.gz or lineStrokes/.")
flags.DEFINE_integer("max_lines", 0, "Read only the first this many lines (by name); 0 = all.", lower_bound=0)
flags.DEFINE_integer("units", 400, "LSTM units per layer.", lower_bound=1)
flags.DEFINE_integer("num_layers", 3, "LSTM layers.", lower_bound=1)
flags.DEFINE_integer("num_components", 20, "Mixture components.", lower_bound=1)
flags.DEFINE_integer("sequence_length", 300, "Points per training window.", lower_bound=1)
flags.DEFINE_integer("sample_steps", 700, "Points of the sample drawn after training.", lower_bound=1,
                     upper_bound=export.MAX_SAMPLED_POINTS)
flags.DEFINE_float("sample_bias", 1.0, "Sampling bias b (§5.4) of the sample drawn after training.", lower_bound=0.0)
# Graves trained with RMSProp (momentum 0.9, learning rate 1e-4) and clipped derivatives.
training.define_run_flags("runs/graves_handwriting", "savedmodels/graves_handwriting", optimizer="rmsprop",
                          learning_rate=1e-4, batch_size=32)


def read_lines():
    if FLAGS.dataset == "demo" and not os.path.isdir(os.path.join(FLAGS.data_dir, demo.IAM_ONDB_TREE)):
        demo.write_demo_strokes(FLAGS.data_dir)
    return handwriting.split_by_form(handwriting.read_iam_ondb(FLAGS.data_dir, FLAGS.max_lines))


def test_negative_log_likelihood(model, test):
    """Mean over test lines of each whole line's NLL (nats, normalised offsets), and per point."""
    nll = tf.function(model.sequence_negative_log_likelihood)
    total = sum(float(tf.reduce_sum(nll(*batch))) for batch in handwriting.whole_line_batches(test, FLAGS.batch_size))
    return total / len(test), total / test.points


def train_and_export():
    backup_dir = training.prepare_run()
    train, valid, test = read_lines()
    if not (train and valid and test):
        raise training.RecipeError(f"{FLAGS.data_dir}: too few forms to split into train/valid/test "
                                   f"({len(train)}/{len(valid)}/{len(test)} lines)")
    # The split is deterministic, so a resumed run recomputes the same statistics.
    mean, std = handwriting.offset_statistics(train)
    logging.info("%s: %d / %d / %d lines, %d training points, offset mean %s std %s", FLAGS.dataset, len(train),
                 len(valid), len(test), train.points, mean, std)
    train, valid, test = (handwriting.normalise(part, mean, std) for part in (train, valid, test))
    datasets = [handwriting.stroke_dataset(part, FLAGS.sequence_length, FLAGS.batch_size, shuffle=shuffle,
                                           seed=FLAGS.seed)
                for part, shuffle in ((train, True), (valid, False))]

    with training.strategy().scope():
        model = GravesHandwritingModel(FLAGS.units, FLAGS.num_layers, FLAGS.num_components)
        model(model.example_input())
        # Mean over real points: padding has weight 0 and does not dilute the loss.
        training.compile_model(model, MixtureDensityLoss(FLAGS.num_components, reduction="mean_with_sample_weight"),
                               datasets[0])

    training.fit(model, *datasets, backup_dir)
    if not training.is_chief():
        return
    # Evaluated and sampled in float32, as exported (the model may have trained in mixed precision).
    inference = export.portable_copy(model)
    per_line, per_point = test_negative_log_likelihood(inference, test)
    print(f"test NLL: {per_line:.1f} nats per line, {per_point:.4f} per point  ({len(test)} lines)")

    sample = inference.sample(FLAGS.sample_steps, FLAGS.sample_bias, (FLAGS.seed, 0)).numpy()
    sample = sample * np.array([*std, 1.0], np.float32) + np.array([*mean, 0.0], np.float32)
    pictures = [os.path.join(FLAGS.model_dir, f"sample.{kind}") for kind in ("png", "svg")]
    for picture in pictures:
        strokes.save(sample, picture)
    print("sample:", " ".join(pictures))

    model.save(os.path.join(FLAGS.model_dir, "graves_handwriting.keras"))
    path = export.export_graves_handwriting(model, mean, std, FLAGS.export_dir, tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "test_nll_per_line": per_line, "test_nll_per_point": per_point,
                   "test_lines": len(test), "offset_mean": mean, "offset_std": std, "export": path}, f, indent=2)
    print(f"exported: {path}")


if __name__ == "__main__":
    training.main("train_graves_handwriting", train_and_export)
