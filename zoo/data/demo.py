"""A generated document classification set, so the HAN demo runs offline in about a minute.

Documents are 3-7 sentences of pseudo-words; exactly one sentence carries a
cue word of the document's class ("negative", "neutral", "positive"), at a
random place, so a model has to find the informative sentence and word —
which is what the hierarchical attention shows. The set is a pure function of
the seed and is written in the Zhang et al. 2015 CSV format, so the demo goes
through the same reader as Yelp or Yahoo Answers.
"""

import csv
import os
import random

CLASS_NAMES = ("negative", "neutral", "positive")
CUE_WORDS = (
    ("awful", "dreadful", "terrible", "boring", "worst", "disappointing"),
    ("average", "okay", "ordinary", "mediocre", "acceptable", "middling"),
    ("excellent", "wonderful", "superb", "brilliant", "best", "delightful"),
)
_SYLLABLES = ("ba", "ko", "ri", "tu", "me", "sa", "lo", "ni", "da", "fe", "gu", "pi", "zo", "ve", "ha", "ju")


def filler_words(count=300, seed=1):
    rng = random.Random(seed)
    words = set()
    while len(words) < count:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def generate(num_documents, seed):
    """Returns `[(label, title, text)]`, a pure function of the arguments."""
    rng = random.Random(seed)
    fillers = filler_words()
    rows = []
    for _ in range(num_documents):
        label = rng.randrange(len(CLASS_NAMES))
        sentences = [[rng.choice(fillers) for _ in range(rng.randint(4, 11))] for _ in range(rng.randint(3, 7))]
        cue_sentence = rng.choice(sentences)
        cue_sentence.insert(rng.randint(0, len(cue_sentence)), rng.choice(CUE_WORDS[label]))
        text = " ".join(" ".join(words).capitalize() + rng.choice(".!.") for words in sentences)
        rows.append((label, " ".join(rng.choice(fillers) for _ in range(2)).title(), text))
    return rows


def write_demo_set(folder, num_train=600, num_test=200, seed=2016):
    """Writes `train.csv`, `test.csv` and `classes.txt` into `folder` (atomically per file)."""
    os.makedirs(folder, exist_ok=True)
    for name, count, split_seed in (("train.csv", num_train, seed), ("test.csv", num_test, seed + 1)):
        path = os.path.join(folder, name)
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, quoting=csv.QUOTE_ALL)
            for label, title, text in generate(count, split_seed):
                writer.writerow([label + 1, title, text])
        os.replace(path + ".tmp", path)
    with open(os.path.join(folder, "classes.txt"), "w", encoding="utf-8") as f:
        f.write("".join(name + "\n" for name in CLASS_NAMES))
