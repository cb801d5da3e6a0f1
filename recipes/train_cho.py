"""Trains the GRU encoder-decoder of Cho et al. 2014, reports perplexity and BLEU, exports it.

    python recipes/train_cho.py --flagfile recipes/configs/cho_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

import run_flags
import translation_flags
from zoo.models import ChoEncoderDecoder

FLAGS = flags.FLAGS
for _name, _help in (("embedding_dim", "Word piece embedding size."),
                     ("units", "GRU units of the encoder and the decoder."),
                     ("maxout_units", "Maxout units of the output layer.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(ChoEncoderDecoder, _name), _help, lower_bound=1)
# bfloat16 where the CPU has it: the same validation loss as float32 from the same weights (benchmarks/README.md).
translation_flags.define_flags("cho", output_width_flag="maxout_units", precision="auto")


def build_model(vocabulary_size):
    return ChoEncoderDecoder(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                             maxout_units=FLAGS.maxout_units, dropout=FLAGS.dropout,
                             share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation_flags.main("cho", build_model)
