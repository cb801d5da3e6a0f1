"""In-graph tokenizers: what training pipelines and the exported signatures both run.

- `DocumentTokenizer`: documents → word ids `[batch, sentences, words]` (HAN),
  core `tf.strings` ops only, so its exports load in plain TensorFlow;
- `CharacterTokenizer`: text ↔ character ids (Graves's character model);
- `SubwordTokenizer`: text ↔ SentencePiece ids (the translation models),
  tensorflow-text kernels.

Each is a `Tokenizer`: it owns its reserved ids (`zoo.text.reserved`), its
vocabulary file (`save` / `load`) and the files an export carries (`assets`).
"""

from zoo.text.characters import CharacterTokenizer, build_character_vocabulary
from zoo.text.documents import DocumentTokenizer, build_vocabulary, split_documents
from zoo.text.reserved import END, PAD, START, SUBWORD_RESERVED, UNK, WORD_RESERVED
from zoo.text.subwords import SubwordTokenizer, build_subword_model
from zoo.text.tokenizer import Tokenizer, prepare_text
from zoo.text.word_vectors import train_word_vectors

__all__ = ["CharacterTokenizer", "DocumentTokenizer", "END", "PAD", "START", "SUBWORD_RESERVED", "SubwordTokenizer",
           "Tokenizer", "UNK", "WORD_RESERVED", "build_character_vocabulary", "build_subword_model",
           "build_vocabulary", "prepare_text", "split_documents",
           "train_word_vectors"]
