"""Generated demo sets, so each recipe runs offline in a minute or two on a CPU.

Each set is a pure function of its arguments (same seed, same bytes) and is
written in the published format of the real data, so the demo goes through
the same reader:
- `write_demo_set`: HAN's document classification set, Zhang et al. 2015 CSVs
  (read by `zoo.data.documents`);
- `write_demo_corpus`: a character corpus as `train.txt`, `valid.txt`,
  `test.txt` (read by `zoo.data.text_corpus`);
- `write_demo_parallel`: a translation task as `{train,valid,test}.{src,tgt}`
  (read by `zoo.data.parallel`);
- `write_demo_strokes`: online handwriting as IAM-OnDB line stroke XML (read
  by `zoo.data.handwriting`);
- `write_demo_synthesis`: handwriting with its text, as IAM-OnDB line stroke
  XML and `ascii/` transcriptions (read by `zoo.data.handwriting_text`).

The readers import this module to write a missing demo set, so it imports no
reader: the names both sides need are defined here.
"""

import csv
import math
import os
import random
import xml.etree.ElementTree as ElementTree

CLASS_NAMES = ("negative", "neutral", "positive")
CUE_WORDS = (
    ("awful", "dreadful", "terrible", "boring", "worst", "disappointing"),
    ("average", "okay", "ordinary", "mediocre", "acceptable", "middling"),
    ("excellent", "wonderful", "superb", "brilliant", "best", "delightful"),
)
_SYLLABLES = ("ba", "ko", "ri", "tu", "me", "sa", "lo", "ni", "da", "fe", "gu", "pi", "zo", "ve", "ha", "ju")
# Parallel text is split into `<split>.<language>` files; the demo's languages are "src" and "tgt".
PARALLEL_SPLITS = ("train", "valid", "test")
DEMO_LANGUAGES = ("src", "tgt")
# IAM-OnDB's folder of line stroke XML files, as its archive unpacks.
IAM_ONDB_TREE = "lineStrokes"
# ... and its folder of transcriptions, a file a form.
IAM_ONDB_ASCII_TREE = "ascii"


def filler_words(count=300, seed=1):
    rng = random.Random(seed)
    words = set()
    while len(words) < count:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def generate(num_documents, seed):
    """Returns `[(label, title, text)]` documents of HAN's demo set, a pure function of the arguments.

    Documents are 3-7 sentences of pseudo-words; exactly one sentence carries
    a cue word of the document's class ("negative", "neutral", "positive"),
    at a random place, so a model has to find the informative sentence and
    word — which is what the hierarchical attention shows.
    """
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
    """Writes HAN's demo set (see `generate`) as `train.csv`, `test.csv` and `classes.txt` into `folder`.

    The CSVs are in the Zhang et al. 2015 format, as Yelp's or Yahoo
    Answers'; each is written atomically.
    """
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


def write_demo_corpus(folder, characters=60_000, seed=2013):
    """Writes `train.txt`, `valid.txt`, `test.txt` of sentences from a small grammar.

    The structure (words, agreement, punctuation) is learnable by a small LSTM
    in a minute: test BPC falls well below the ~4.5 bits of the character
    frequencies alone.
    """
    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "my friend", "the old man", "her sister", "our teacher"]
    verbs = ["sees", "likes", "finds", "calls", "paints", "follows"]
    objects = ["the moon", "a red ball", "the river", "some bread", "a small bird", "the garden"]
    endings = [".", ".", "!", "?"]
    os.makedirs(folder, exist_ok=True)
    for split, size in (("train", characters), ("valid", characters // 10), ("test", characters // 10)):
        lines, total = [], 0
        while total < size:
            line = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}{rng.choice(endings)}"
            lines.append(line.capitalize())
            total += len(line) + 1
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def demo_lexicon(seed=2014):
    """The demo's word translation: 20 source pseudo-words → 20 target pseudo-words (disjoint sets)."""
    rng = random.Random(seed)

    def words(syllables):
        return rng.sample(sorted(a + b for a in syllables for b in syllables), 20)

    sources = words(("ba", "ko", "ri", "tu", "me", "sa", "lo", "ni"))
    targets = words(("zu", "xe", "qa", "vo", "wi", "ju", "ge", "fy"))
    return dict(zip(sources, targets))


def write_demo_parallel(folder, num_train=12000, num_valid=300, num_test=300, seed=2014):
    """Writes the demo translation task as `{train,valid,test}.{src,tgt}` into `folder`.

    A source is 3-8 words drawn from `demo_lexicon()`'s 20 source words; its
    target is the sentence reversed, each word replaced by its lexicon entry.
    A small encoder-decoder learns it to near-perfect exact match in a minute
    or two on a CPU. No sentence occurs twice across the splits; the set is a
    pure function of the arguments. Files are written atomically.
    """
    rng = random.Random(seed)
    lexicon = demo_lexicon()
    vocabulary = sorted(lexicon)
    seen = set()
    os.makedirs(folder, exist_ok=True)
    for split, count in zip(PARALLEL_SPLITS, (num_train, num_valid, num_test)):
        sentences = []
        while len(sentences) < count:
            words = tuple(rng.choice(vocabulary) for _ in range(rng.randint(3, 8)))
            if words not in seen:
                seen.add(words)
                sentences.append(words)
        for language, lines in zip(DEMO_LANGUAGES, (
                [" ".join(words) for words in sentences],
                [" ".join(lexicon[word] for word in reversed(words)) for words in sentences])):
            path = os.path.join(folder, f"{split}.{language}")
            temporary = f"{path}.{os.getpid()}.tmp"  # two recipes started together write the same files
            with open(temporary, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
            os.replace(temporary, path)


def write_demo_strokes(folder, lines=120, seed=2013):
    """Writes generated handwriting as IAM-OnDB XML under `folder/lineStrokes/`.

    Each line is a few "words" of cursive loops (prolate cycloids of random
    size and loop count) with a pen lift between words: a learnable stroke
    structure, like real handwriting but simple enough for a minute of
    training. 24 forms of 5 lines, so `handwriting.split_by_form` holds out
    whole forms.
    """
    rng = random.Random(seed)
    for index in range(lines):
        form = f"d01-{index // 5:03d}"
        path = os.path.join(folder, IAM_ONDB_TREE, "d01", form, f"{form}x-{index % 5 + 1:02d}.xml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        x, y, strokes = 500.0, 1000.0, []
        for _ in range(rng.randint(3, 5)):
            loops, size = rng.randint(2, 5), rng.uniform(30.0, 50.0)
            stroke = []
            for step in range(loops * 12 + 1):
                angle = 2 * math.pi * step / 12
                stroke.append((round(x + size * (angle - 1.6 * math.sin(angle)) / 2 + rng.gauss(0, 1)),
                               round(y - size * (1 - math.cos(angle)) + rng.gauss(0, 1))))
            strokes.append(stroke)
            x = stroke[-1][0] + rng.uniform(60.0, 100.0)
        _write_line_xml(path, strokes)


# The demo synthesis set's letters, as pen strokes (polylines) in x-heights: x to the right, y up, baseline 0.
DEMO_FONT = {
    "a": [[(0.55, 0.8), (0.3, 1.0), (0.05, 0.6), (0.2, 0.05), (0.5, 0.2), (0.55, 1.0), (0.6, 0.0)]],
    "e": [[(0.05, 0.5), (0.55, 0.55), (0.45, 0.9), (0.25, 1.0), (0.05, 0.7), (0.1, 0.2), (0.35, 0.0), (0.6, 0.15)]],
    "i": [[(0.1, 1.0), (0.1, 0.0)], [(0.1, 1.35), (0.12, 1.4)]],
    "l": [[(0.1, 2.0), (0.1, 0.2), (0.25, 0.0)]],
    "n": [[(0.05, 0.0), (0.05, 1.0), (0.05, 0.7), (0.3, 1.0), (0.55, 0.8), (0.55, 0.0)]],
    "o": [[(0.3, 1.0), (0.05, 0.75), (0.05, 0.25), (0.3, 0.0), (0.55, 0.25), (0.55, 0.75), (0.3, 1.0)]],
    "t": [[(0.2, 1.7), (0.2, 0.1), (0.35, 0.0)], [(0.0, 1.0), (0.45, 1.0)]],
    "v": [[(0.0, 1.0), (0.3, 0.0), (0.6, 1.0)]],
}
_FONT_STEP = 0.35  # longest pen move within a stroke, in x-heights: a few points a segment


def write_demo_synthesis(folder, lines=420, lines_per_form=6, seed=2013):
    """Writes generated transcribed handwriting in IAM-OnDB's layout, for Graves's §5 synthesis demo.

    Each line is 3-6 words of 2-5 letters from `DEMO_FONT` (8 letters), each
    letter drawn from its polylines with a little jitter, per-line size and
    slant and per-letter size variation, left to right, the pen lifted
    between letters. Stroke XML goes to
    `lineStrokes/s01/s01-NNN/s01-NNNx-MM.xml`, the text to
    `ascii/s01/s01-NNN/s01-NNNx.txt` (an `OCR:` section holding the form's
    text as one line, then the `CSR:` section, a line per stroke file), so
    the demo goes through `zoo.data.handwriting_text`'s reader. About 10
    points a letter, so a small synthesis network learns it in minutes. Each
    file is written atomically; the set is a pure function of the arguments.

    Args:
        folder: where `lineStrokes/` and `ascii/` go.
        lines: text lines in all; `lines_per_form` of them a form (the last form may hold fewer).
        seed: the random seed.
    """
    rng = random.Random(seed)
    letters = sorted(DEMO_FONT)
    for first in range(0, lines, lines_per_form):
        form = f"s01-{first // lines_per_form:03d}"
        texts = []
        for number in range(1, min(lines_per_form, lines - first) + 1):
            words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(3, 6))]
            texts.append(" ".join(words))
            path = os.path.join(folder, IAM_ONDB_TREE, "s01", form, f"{form}x-{number:02d}.xml")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write_line_xml(path, _draw_line(words, rng))
        path = os.path.join(folder, IAM_ONDB_ASCII_TREE, "s01", form, f"{form}x.txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_atomically(path, f"OCR:\n\n{' '.join(texts)}\n\nCSR:\n\n" + "".join(t + "\n" for t in texts))


def _draw_line(words, rng):
    """Tracker-unit strokes (y down) of `words` written with `DEMO_FONT`."""
    size, slant = rng.uniform(40.0, 60.0), rng.uniform(-0.1, 0.3)  # x-height in tracker units; x shift per y
    x, baseline, strokes = 300.0 + rng.uniform(0.0, 100.0), 1000.0, []
    for word in words:
        for letter in word:
            scale = size * rng.uniform(0.9, 1.1)
            for polyline in DEMO_FONT[letter]:
                stroke = []
                for (x0, y0), (x1, y1) in zip(polyline, polyline[1:]):
                    steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / _FONT_STEP))
                    stroke += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(steps)]
                stroke.append(polyline[-1])
                strokes.append([(round(x + scale * (px + slant * py) + rng.gauss(0.0, 1.0)),
                                 round(baseline - scale * py + rng.gauss(0.0, 1.0))) for px, py in stroke])
            x += scale * (max(px for polyline in DEMO_FONT[letter] for px, _ in polyline) + rng.uniform(0.15, 0.3))
        x += size * rng.uniform(0.6, 0.9)
    return strokes


def _write_line_xml(path, strokes):
    """Writes `strokes` as a line's XML, timed as IAM-OnDB's tracker reads: every 15 ms, in steps of 10 ms, a
    quarter of a second's pen lift between strokes."""
    root = ElementTree.Element("WhiteboardCaptureSession")
    stroke_set = ElementTree.SubElement(root, "StrokeSet")
    readings = 0
    for stroke in strokes:
        element = ElementTree.SubElement(stroke_set, "Stroke", colour="black")
        for x, y in stroke:
            ElementTree.SubElement(element, "Point", x=str(x), y=str(y), time=f"{readings * 15 // 10 / 100:.2f}")
            readings += 1
        readings += 16
    temporary = f"{path}.{os.getpid()}.tmp"  # a reader never sees half a file
    ElementTree.ElementTree(root).write(temporary, encoding="ISO-8859-1", xml_declaration=True)
    os.replace(temporary, path)


def _write_atomically(path, text):
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="ISO-8859-1", newline="\n") as f:
        f.write(text)
    os.replace(temporary, path)
