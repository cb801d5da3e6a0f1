"""Trains GNMT (Wu et al. 2016) on a parallel set, reports perplexity and BLEU, exports a translator.

    python recipes/train_gnmt.py --flagfile recipes/configs/gnmt_demo.flags

The training, evaluation and export are zoo.translation's, shared by every translation recipe.
"""

from absl import flags

import run_flags
import translation_flags
from zoo.models import GNMT

FLAGS = flags.FLAGS
for _name, _help in (("embedding_dim", "Word piece embedding size."),
                     ("units", "LSTM units per layer (per direction in the bottom encoder layer)."),
                     ("encoder_layers", "Encoder layers, the bi-directional one included."),
                     ("decoder_layers", "Decoder layers."),
                     ("attention_units", "Size of the additive attention's hidden layer.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(GNMT, _name), _help,
                         lower_bound=2 if _name.endswith("layers") else 1)
# float32: in bfloat16 the validation loss trailed float32's from the same weights (benchmarks/README.md, precision).
translation_flags.define_flags("gnmt")


def build_model(vocabulary_size):
    return GNMT(vocabulary_size, embedding_dim=FLAGS.embedding_dim, units=FLAGS.units,
                encoder_layers=FLAGS.encoder_layers, decoder_layers=FLAGS.decoder_layers,
                attention_units=FLAGS.attention_units, dropout=FLAGS.dropout,
                share_embeddings=FLAGS.share_embeddings)


if __name__ == "__main__":
    translation_flags.main("gnmt", build_model)
