"""Trains GNMT (Wu et al. 2016) on a parallel set, reports perplexity and BLEU, exports a translator.

    python recipes/train_gnmt.py --flagfile recipes/configs/gnmt_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

from zoo import translation
from zoo.models import GNMT

FLAGS = flags.FLAGS
flags.DEFINE_integer("embedding_dim", 1024, "Word piece embedding size.", lower_bound=1)
flags.DEFINE_integer("units", 1024, "LSTM units per layer (per direction in the bottom encoder layer).",
                     lower_bound=1)
flags.DEFINE_integer("encoder_layers", 8, "Encoder layers, the bi-directional one included.", lower_bound=2)
flags.DEFINE_integer("decoder_layers", 8, "Decoder layers.", lower_bound=2)
flags.DEFINE_integer("attention_units", 1024, "Size of the additive attention's hidden layer.", lower_bound=1)
translation.define_flags("gnmt")


def build_model(vocabulary_size):
    return GNMT(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                encoder_layers=FLAGS.encoder_layers, decoder_layers=FLAGS.decoder_layers,
                attention_units=FLAGS.attention_units, dropout=FLAGS.dropout,
                share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation.main("gnmt", build_model)
