"""Trains Graves 2013's unconditional handwriting model, reports validation NLL per line, exports sampling.

    python recipes/train_graves_handwriting.py --flagfile recipes/configs/graves_handwriting_demo.flags

Reads IAM-OnDB's line strokes from --data_dir (see zoo.data.handwriting),
splits them as Graves §4 did (the IAM task lists in --splits_dir: training
on trainset, testset_t and testset_f, validation on testset_v, where table 3
reports; by form where the lists are missing; see
zoo.data.handwriting_text.read_prediction_lines), normalises the pen offsets
with the training split's statistics, trains next-point prediction with the
mixture density loss (eq. 26) on windows of --sequence_length points with
model.fit (progress bar, TensorBoard, checkpoints, --resume), reports the
negative log-likelihood of each whole validation line, writes sampled handwriting to
<model_dir>/sample.png and .svg, and exports a SavedModel whose `sample`
signature takes `steps`, `bias` and `seed`. With --init_from the offsets are
normalised with the export's statistics, which its weights learnt.
"""

import os

from absl import flags, logging

import tensorflow as tf

import run_flags
from zoo import export, strokes, training
from zoo.data import demo, handwriting, handwriting_text
from zoo.export import reader
from zoo.layers.mdn import MixtureDensityLoss
from zoo.models import GravesHandwritingModel

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "demo", ("demo", "iam_ondb"), "demo: generated strokes; iam_ondb: IAM-OnDB lineStrokes.")
flags.DEFINE_string("data_dir", "data/graves_handwriting_demo",
                    "Folder holding lineStrokes-all.tar.gz or lineStrokes/.")
flags.DEFINE_string("splits_dir", None, "IAM task split lists; default <data_dir>/splits, else split by form.")
flags.DEFINE_integer("max_lines", 0, "Read only the first this many lines (by name); 0 = all.", lower_bound=0)
flags.DEFINE_bool("fill_missing_readings", False, "Put back the pen readings the tracker lost within a stroke, on "
                  "the straight line between the readings around them, as Graves §4 did (zoo.data.handwriting."
                  "filled_readings); the validation lines too, so their NLL counts those points.")
for _name, _help in (("units", "LSTM units per layer."), ("num_layers", "LSTM layers."),
                     ("num_components", "Mixture components.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(GravesHandwritingModel, _name), _help, lower_bound=1)
run_flags.define_update_dropout(GravesHandwritingModel)
flags.DEFINE_integer("sequence_length", 300, "Points per training window.", lower_bound=1)
flags.DEFINE_integer("sample_steps", 700, "Points of the sample drawn after training.", lower_bound=1,
                     upper_bound=export.MAX_SAMPLED_POINTS)
flags.DEFINE_float("sample_bias", 1.0, "Sampling bias b (§5.4) of the sample drawn after training.", lower_bound=0.0)
# Graves trained with RMSProp (momentum 0.9, learning rate 1e-4) and clipped derivatives. bfloat16 where the CPU
# has it: no worse on validation than float32 from the same weights (benchmarks/README.md, precision).
run_flags.define_run_flags("graves_handwriting", optimizer="rmsprop", learning_rate=1e-4, batch_size=32,
                           precision="auto")


def save_sample(sample, mean, std):
    """Writes normalised offsets `sample` [n, 3] in the data's units to <model_dir>/sample.png and .svg."""
    pictures = [os.path.join(FLAGS.model_dir, f"sample.{kind}") for kind in ("png", "svg")]
    for picture in pictures:
        strokes.save(handwriting.denormalise(sample, mean, std), picture)
    return " ".join(pictures)


class GravesHandwritingRecipe(training.Recipe):
    name = "graves_handwriting"

    def read_data(self):
        if FLAGS.dataset == "demo" and not os.path.isdir(os.path.join(FLAGS.data_dir, demo.IAM_ONDB_TREE)):
            demo.write_demo_strokes(FLAGS.data_dir)
        train, valid, report = handwriting_text.read_prediction_lines(FLAGS.data_dir, FLAGS.splits_dir,
                                                                      FLAGS.max_lines, FLAGS.fill_missing_readings)
        logging.info("%s: %d lines kept (dropped %s); split %s (%d lines on no list)", FLAGS.dataset,
                     report["kept"], report["dropped"], report["split"], report["unlisted_lines"])
        if not (train and valid):
            raise training.RecipeError(f"{FLAGS.data_dir}: too few lines to split into train/valid "
                                       f"({len(train)}/{len(valid)} lines)")
        # The export's statistics with --init_from (its weights learnt on them); the split is deterministic, so
        # a resumed run recomputes the same ones.
        self.mean, self.std = (reader.Export(FLAGS.init_from).offset_statistics() if FLAGS.init_from
                               else handwriting.offset_statistics(train))
        logging.info("%d / %d lines, %d training points, offset mean %s std %s", len(train), len(valid), train.points,
                     self.mean, self.std)
        return [handwriting.normalise(part, self.mean, self.std) for part in (train, valid)]

    def datasets(self, splits, tokenizer, replicas):
        return tuple(handwriting.stroke_dataset(part, FLAGS.sequence_length, FLAGS.batch_size, shuffle=shuffle,
                                                seed=FLAGS.seed)
                     for part, shuffle in ((splits[0], True), (splits[1], False)))

    def build_model(self, tokenizer):
        return GravesHandwritingModel(FLAGS.units, FLAGS.num_layers, FLAGS.num_components,
                                      update_dropout=FLAGS.update_dropout)

    def loss(self):
        # Mean over real points: padding has weight 0 and does not dilute the loss.
        return MixtureDensityLoss(FLAGS.num_components, reduction="mean_with_sample_weight")

    def evaluate(self, model, splits, tokenizer):
        """Mean over validation lines of each whole line's NLL (nats, normalised offsets), and per point."""
        valid = splits[1]
        nll = tf.function(model.sequence_negative_log_likelihood)
        total = sum(float(tf.reduce_sum(nll(*batch)))
                    for batch in handwriting.whole_line_batches(valid, FLAGS.batch_size))
        per_line, per_point = total / len(valid), total / valid.points
        print(f"validation NLL: {per_line:.1f} nats per line, {per_point:.4f} per point  ({len(valid)} lines)")
        sample = model.sample(FLAGS.sample_steps, FLAGS.sample_bias, (FLAGS.seed, 0)).numpy()
        print("sample:", save_sample(sample, self.mean, self.std))
        return {"dataset": FLAGS.dataset, "valid_nll_per_line": per_line, "valid_nll_per_point": per_point,
                "valid_lines": len(valid), "train_lines": len(splits[0]), "offset_mean": list(map(float, self.mean)),
                "offset_std": list(map(float, self.std))}

    def export(self, model, tokenizer):
        return export.export_graves_handwriting(model, self.mean, self.std, FLAGS.export_dir, tflite=FLAGS.tflite)


if __name__ == "__main__":
    run_flags.main("train_graves_handwriting", GravesHandwritingRecipe)
