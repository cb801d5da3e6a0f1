"""Trains the GRU encoder-decoder of Cho et al. 2014, reports perplexity and BLEU, exports it.

    python recipes/train_cho.py --flagfile recipes/configs/cho_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

from zoo import translation
from zoo.models import ChoEncoderDecoder

FLAGS = flags.FLAGS
flags.DEFINE_integer("embedding_dim", 100, "Word piece embedding size.", lower_bound=1)
flags.DEFINE_integer("units", 1000, "GRU units of the encoder and the decoder.", lower_bound=1)
flags.DEFINE_integer("maxout_units", 500, "Maxout units of the output layer.", lower_bound=1)
translation.define_flags("cho", output_width_flag="maxout_units")


def build_model(vocabulary_size):
    return ChoEncoderDecoder(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                             maxout_units=FLAGS.maxout_units, dropout=FLAGS.dropout,
                             share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation.main("cho", build_model)
