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

import os

from absl import flags, logging

import tensorflow as tf

import run_flags
from zoo import export, strokes, text, training
from zoo.data import demo, handwriting, handwriting_text
from zoo.export import reader
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
for _name, _help in (("units", "LSTM units per layer."), ("num_layers", "LSTM layers."),
                     ("num_components", "Mixture components."), ("window_components", "Soft window components.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(GravesSynthesisModel, _name), _help, lower_bound=1)
flags.DEFINE_float("window_step", run_flags.constructor_default(GravesSynthesisModel, "window_step"),
                   "Characters the window moves a point at the start of training: about 1 / the data's points per "
                   "character (IAM-OnDB: 22).", lower_bound=1e-6)
flags.DEFINE_string("sample_text", "to be or not to be", "Text written by hand after training.")
flags.DEFINE_float("sample_bias", 1.0, "Sampling bias b (§5.4) of the sample written after training.", lower_bound=0.0)
# bfloat16 where the CPU has it (the window and the mixture stay float32): no worse on validation than float32 from
# the same weights (benchmarks/README.md, precision).
run_flags.define_run_flags("graves_synthesis", optimizer="adam", learning_rate=1e-3, batch_size=32, precision="auto")


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


class GravesSynthesisRecipe(training.Recipe):
    name = "graves_synthesis"
    tokenizer_class = text.CharacterTokenizer

    def read_data(self):
        """(train, valid) transcribed lines, cleaned, split and normalised; logs what was dropped and how it split."""
        if FLAGS.dataset == "demo" and not os.path.isdir(os.path.join(FLAGS.data_dir, demo.IAM_ONDB_TREE)):
            demo.write_demo_synthesis(FLAGS.data_dir)
        train, valid, report = handwriting_text.read_synthesis_lines(FLAGS.data_dir, FLAGS.splits_dir,
                                                                     FLAGS.max_lines)
        logging.info("%s: %d lines kept (%d forms skipped: text and strokes do not pair; dropped %s); split %s "
                     "(%d lines on no list): %d train / %d valid", FLAGS.dataset, report["kept"],
                     len(report["skipped_forms"]), report["dropped"], report["split"], report["unlisted_lines"],
                     len(train), len(valid))
        if not (train and valid):
            raise training.RecipeError(f"{FLAGS.data_dir}: too few lines to split into train/valid "
                                       f"({len(train)}/{len(valid)} lines)")
        # The export's statistics with --init_from (its weights learnt on them); the split is deterministic, so
        # a resumed run recomputes the same ones.
        self.mean, self.std = (reader.Export(FLAGS.init_from).offset_statistics() if FLAGS.init_from
                               else handwriting.offset_statistics(train))
        return [handwriting.normalise(part, self.mean, self.std) for part in (train, valid)]

    def build_vocabulary(self, splits):
        return list(handwriting_text.SYNTHESIS_ALPHABET)

    def datasets(self, splits, tokenizer, replicas):
        # Validation scores whole lines, as Graves's table 4 does (--max_points cuts training lines only).
        self.valid_ds = handwriting_text.synthesis_dataset(splits[1], tokenizer, FLAGS.batch_size, max_points=None)
        return (handwriting_text.synthesis_dataset(splits[0], tokenizer, FLAGS.batch_size, shuffle=True,
                                                   seed=FLAGS.seed, max_points=FLAGS.max_points), self.valid_ds)

    def build_model(self, tokenizer):
        return GravesSynthesisModel(tokenizer.vocabulary_size, FLAGS.units, FLAGS.num_layers, FLAGS.num_components,
                                    FLAGS.window_components, FLAGS.window_step)

    def loss(self):
        # Mean over real points: padding has weight 0 and does not dilute the loss.
        return MixtureDensityLoss(FLAGS.num_components, reduction="mean_with_sample_weight")

    def evaluate(self, model, splits, tokenizer):
        valid = splits[1]
        per_line, per_point = validation_negative_log_likelihood(model, self.valid_ds, valid)
        print(f"validation NLL: {per_line:.1f} nats per line, {per_point:.4f} per point  ({len(valid)} lines)")
        char_ids = tokenizer([FLAGS.sample_text])
        written = model.sample(char_ids, int(char_ids.shape[1]) * export.synthesis.POINTS_PER_CHARACTER,
                               FLAGS.sample_bias, FLAGS.seed)
        length = int(written["lengths"][0])
        sample = handwriting.denormalise(written["strokes"].numpy()[0, :length], self.mean, self.std)
        pictures = [os.path.join(FLAGS.model_dir, f"sample.{kind}") for kind in ("png", "svg")]
        for picture in pictures:
            strokes.save(sample, picture)
        print(f"sample: {FLAGS.sample_text!r} in {length} points (finished: {bool(written['finished'][0])}):",
              " ".join(pictures))
        return {"dataset": FLAGS.dataset, "valid_nll_per_line": per_line, "valid_nll_per_point": per_point,
                "valid_lines": len(valid), "train_lines": len(splits[0]), "offset_mean": list(map(float, self.mean)),
                "offset_std": list(map(float, self.std))}

    def export(self, model, tokenizer):
        return export.export_synthesis(model, tokenizer, self.mean, self.std, FLAGS.export_dir, tflite=FLAGS.tflite)


if __name__ == "__main__":
    run_flags.main("train_graves_synthesis", GravesSynthesisRecipe)
