"""Trains the deep LSTM encoder-decoder of Sutskever et al. 2014, reports perplexity and BLEU, exports it.

    python recipes/train_sutskever.py --flagfile recipes/configs/sutskever_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

import run_flags
import translation_flags
from zoo.models import SutskeverSeq2Seq

FLAGS = flags.FLAGS
for _name, _help in (("embedding_dim", "Word piece embedding size."), ("units", "LSTM units per layer."),
                     ("num_layers", "LSTM layers of the encoder and of the decoder.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(SutskeverSeq2Seq, _name), _help, lower_bound=1)
flags.DEFINE_bool("reverse_source", run_flags.constructor_default(SutskeverSeq2Seq, "reverse_source"),
                  "Read the source backwards (§3.3).")
# bfloat16 where the CPU has it: the same validation loss as float32 from the same weights (benchmarks/README.md).
translation_flags.define_flags("sutskever", precision="auto")


def build_model(vocabulary_size):
    return SutskeverSeq2Seq(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                            num_layers=FLAGS.num_layers, reverse_source=FLAGS.reverse_source,
                            dropout=FLAGS.dropout, share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation_flags.main("sutskever", build_model)
