"""The reserved tokens and their ids, for every tokenizer and model of the zoo.

Word and character vocabularies start `[PAD]`, `[UNK]`; subword vocabularies
start `[PAD]`, `[UNK]`, `[START]`, `[END]`. Models mask `PAD_ID`; decoders
start from `START_ID` and stop at `END_ID`. Nothing else in the zoo spells
these ids as numbers.
"""

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3

WORD_RESERVED = (PAD, UNK)  # ids 0, 1 of word and character vocabularies
SUBWORD_RESERVED = (PAD, UNK, START, END)  # ids 0-3 of subword vocabularies
