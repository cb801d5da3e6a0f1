"""Does the phone translate as the server does? `translation.tflite` against the SavedModel's `serving_default`.

    python benchmarks/translation_device.py --export savedmodels/gnmt_multi30k/1 --sentences 200

Run by hand, not a test. Translates the first --sentences sentences of the
Multi30k test split (test_2016_flickr, or the demo set's test split with
--dataset demo) with the export's `serving_default` (TensorFlow) and with its
`assets.extra/translation.tflite` run by LiteRT with tensorflow-text's custom
ops, as on a device, and prints the share of sentences whose pieces are
identical, whose text is identical (the device's SentencePiece kernel writes
a character the model never saw as " ⁇ "), the largest score difference,
each one's BLEU against the references, and milliseconds per sentence.
"""

import os
import sys
import time

import numpy as np
from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

flags.DEFINE_string("export", None, "A translation SavedModel with assets.extra/translation.tflite.")
flags.DEFINE_enum("dataset", "multi30k", ("multi30k", "demo"), "Whose test split to translate.")
flags.DEFINE_string("data_dir", os.path.join(ROOT, "..", "shared", "datasets", "multi30k", "task1", "raw"),
                    "The data set's folder.")
flags.DEFINE_integer("sentences", 200, "The first this many test sentences.", lower_bound=1)
flags.mark_flag_as_required("export")
FLAGS = flags.FLAGS


def main(_):
    import sacrebleu
    import tensorflow as tf

    from serving import TFLite
    from zoo import export, text
    from zoo.data import parallel

    _, _, test = parallel.read_parallel(FLAGS.dataset, FLAGS.data_dir)
    sources, references = test.sources[:FLAGS.sentences], test.targets[:FLAGS.sentences]
    serve = tf.saved_model.load(FLAGS.export).signatures[export.SERVING_SIGNATURE]
    extra = os.path.join(FLAGS.export, export.EXTRA_DIR)
    with open(os.path.join(extra, text.SubwordTokenizer.model_file), "rb") as f:
        tokenizer = text.SubwordTokenizer(f.read())
    with open(os.path.join(extra, "translation.tflite"), "rb") as f:
        lite = TFLite(f.read(), custom_ops=True)  # LiteRT with tensorflow-text's custom ops, as on a device

    server, device, same_pieces, score_gap = [], [], 0, 0.0
    server_seconds = device_seconds = 0.0
    for source in sources:
        start = time.perf_counter()
        expected = serve(text=tf.constant([source]))
        server_seconds += time.perf_counter() - start
        start = time.perf_counter()
        out = dict(zip(export.TRANSLATION_TFLITE_OUTPUTS, lite(text=np.array([source.encode()]))))
        device_seconds += time.perf_counter() - start
        server.append(expected["translation"].numpy()[0].decode())
        device.append(out["translation"][0].decode())
        same_pieces += tokenizer.detokenize(out["ids"]).numpy()[0].decode() == server[-1]
        score_gap = max(score_gap, abs(float(out["score"][0]) - float(expected["score"].numpy()[0])))
    count = len(sources)
    same_text = sum(a == b for a, b in zip(server, device))
    bleu = lambda hypotheses: sacrebleu.corpus_bleu(hypotheses, [references]).score
    print(f"| sentences | same pieces | same text | largest score difference | BLEU SavedModel | BLEU .tflite "
          f"| ms/sentence SavedModel | ms/sentence .tflite |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
          f"| {count} | {same_pieces}/{count} ({same_pieces / count:.1%}) | {same_text}/{count} "
          f"({same_text / count:.1%}) | {score_gap:.2g} | {bleu(server):.2f} | {bleu(device):.2f} "
          f"| {1000 * server_seconds / count:.0f} | {1000 * device_seconds / count:.0f} |")
    for source, a, b in zip(sources, server, device):
        if a != b:
            print(f"  {source}\n  SavedModel: {a}\n  .tflite:    {b}")


if __name__ == "__main__":
    app.run(main)
