"""Trains the deep LSTM encoder-decoder of Sutskever et al. 2014, reports perplexity and BLEU, exports it.

    python recipes/train_sutskever.py --flagfile recipes/configs/sutskever_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

from zoo import translation
from zoo.models import SutskeverSeq2Seq

FLAGS = flags.FLAGS
flags.DEFINE_integer("embedding_dim", 1000, "Word piece embedding size.", lower_bound=1)
flags.DEFINE_integer("units", 1000, "LSTM units per layer.", lower_bound=1)
flags.DEFINE_integer("num_layers", 4, "LSTM layers of the encoder and of the decoder.", lower_bound=1)
flags.DEFINE_bool("reverse_source", True, "Read the source backwards (§3.3).")
translation.define_flags("sutskever")


def build_model(vocabulary_size):
    return SutskeverSeq2Seq(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                            num_layers=FLAGS.num_layers, reverse_source=FLAGS.reverse_source,
                            dropout=FLAGS.dropout, share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation.main("sutskever", build_model)
