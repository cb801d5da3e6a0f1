"""Recomputes each shipped model's test metric from its export alone and checks it against the model's card.

    python benchmarks/model_cards.py                                    # every card under savedmodels/
    python benchmarks/model_cards.py --models gnmt_multi30k_en_de han_imdb
    python benchmarks/model_cards.py --models han_imdb --record         # writes what it measured into the card
    python benchmarks/model_cards.py --markdown                         # MODEL_CARD.md again from card.json

A shipped model is `savedmodels/<name>/<version>/` with `savedmodels/<name>/card.json` (the facts of
MODEL_CARD.md, machine-readable) beside it. For each card this script loads the newest version with
`tf.saved_model.load`, reads the test split from the data set's published files under `--datasets_dir`
(the file names are the card's), sends the raw test texts through the export's `serving_default` and scores
what comes back: sacrebleu's corpus BLEU of the `translation`s against the raw references, or the share of
test documents whose `label` is their class (a row the export refuses counts as wrong). A Graves model's card
is scored by its export's `score` signature: bits per character of the test text read in order (Penn
Treebank characters), or nats a line over IAM-OnDB's testset_v lines, read from the IAM's XML (and, for
synthesis, its transcriptions) as the recipes read them. It fails when a result differs from the card by
more than the tolerance (BLEU 0.1, accuracy 0.001, bits per character 0.001, nats a line 0.1).

It imports TensorFlow, tensorflow-text (whose ops the translation graphs run) and sacrebleu, never `zoo`:
the card's number holds for anyone who has the export and the data.

`--record` writes into the card what it measured: the metric (and sacrebleu's signature), the export's
signatures, its files' sizes and its answers to the card's example inputs (which `tests/test_shipped_models.py`
checks in CI; a handwriting card's examples are a text or a number of points with a bias and seed: the export
writes each line, the card keeps its points and their `score`); then, as `--markdown` does alone, it writes
`MODEL_CARD.md` from `card.json`, so that the two never disagree.
"""

import gzip
import json
import os
import re
import sys
import tarfile
import time
from xml.etree import ElementTree

import numpy as np

import sacrebleu
import tensorflow as tf
import tensorflow_text  # noqa: F401 (the translation graphs' SentencePiece ops)
from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAVEDMODELS = os.path.join(ROOT, "savedmodels")
TOLERANCE = {"BLEU": 0.1, "accuracy": 0.001, "bits_per_character": 0.001, "nats_per_line": 0.1}
BATCH = 64
GREEDY_CHARACTERS = 60  # of a character model's example answers
EXAMPLE_NATS_TOLERANCE = 0.01  # of a handwriting example's score

flags.DEFINE_list("models", None, "Shipped models to check, comma- or space-separated (default: every "
                  "savedmodels/<name>/card.json).")
flags.DEFINE_string("datasets_dir", os.path.join(ROOT, "..", "shared", "datasets"), "Where the data sets are.")
flags.DEFINE_bool("record", False, "Write the measured metric, signatures, sizes and example answers into each card, "
                  "then its MODEL_CARD.md.")
flags.DEFINE_bool("markdown", False, "Only write each card's MODEL_CARD.md from its card.json.")
FLAGS = flags.FLAGS


def shipped_models():
    return sorted(name for name in os.listdir(SAVEDMODELS) if os.path.exists(card_path(name)))


def card_path(name):
    return os.path.join(SAVEDMODELS, name, "card.json")


def read_card(name):
    with open(card_path(name), encoding="utf-8") as f:
        return json.load(f)


def newest_version(name):
    base = os.path.join(SAVEDMODELS, name)
    versions = [int(entry) for entry in os.listdir(base) if entry.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{base}: no version directory")
    return os.path.join(base, str(max(versions)))


def read_lines(path):
    """The lines of a text file, gzip'd or not, without their line ends."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def read_parallel(test, datasets_dir):
    """(sources, references) of a translation card's test split."""
    sources, references = (read_lines(os.path.join(datasets_dir, test[key])) for key in ("source", "reference"))
    if len(sources) != len(references):
        raise ValueError(f"{test['source']}: {len(sources)} lines, {test['reference']}: {len(references)}")
    return sources, references


def read_imdb_test(test, datasets_dir):
    """(texts, classes) of aclImdb's test reviews: the class is the folder (`pos`/`neg`) or, for the ratings
    task, the star rating in the file name (`<id>_<rating>.txt`)."""
    pattern = re.compile(r"aclImdb/test/(?P<polarity>neg|pos)/\d+_(?P<rating>\d+)\.txt$")
    texts, classes = [], []
    with tarfile.open(os.path.join(datasets_dir, test["archive"]), "r:gz") as tar:
        for member in sorted((m for m in tar if m.isfile() and pattern.search(m.name)), key=lambda m: m.name):
            match = pattern.search(member.name)
            texts.append(tar.extractfile(member).read().decode("utf-8", errors="replace"))
            classes.append(match[test["class_from"]])
    return texts, classes


def read_ptb_char(path):
    """Mikolov's `ptb.char.*.txt` as the recipe reads it: `a e r _ b a n k` lines → `aer bank` lines."""
    return "".join("".join(" " if c == "_" else c for c in line.split()) + "\n" for line in read_lines(path))


def line_offsets(xml, filled_readings=None):
    """One IAM-OnDB line's XML → float32 `[points, 3]`: (Δx, Δy) from the previous point (the first (0, 0)),
    y growing upwards, and 1 on each stroke's last point. With `filled_readings` (a card's `{"reading_interval":
    seconds, "max_gap": seconds}`), the readings a stroke lost are put back first, as Graves §4 did: a gap of Δt
    < max_gap seconds lost round(Δt / reading_interval) - 1, evenly spaced on the line between its two readings."""
    root = ElementTree.fromstring(xml)
    strokes = []
    for stroke in root.iter("Stroke"):
        readings = [(int(p.get("x")), int(p.get("y")), float(p.get("time")) if filled_readings else 0.0)
                    for p in stroke.iter("Point")]
        points = [r[:2] for r in readings[:1]]
        for (x0, y0, t0), (x1, y1, t1) in zip(readings, readings[1:]):
            gap = t1 - t0
            lost = (max(round(gap / filled_readings["reading_interval"]) - 1, 0)
                    if filled_readings and 0 < gap < filled_readings["max_gap"] else 0)
            points += [(x0 + (x1 - x0) * k / (lost + 1), y0 + (y1 - y0) * k / (lost + 1)) for k in range(1, lost + 1)]
            points.append((x1, y1))
        if points:
            strokes.append(points)
    points = np.array([p for s in strokes for p in s], np.float32)
    end_of_stroke = np.zeros(len(points), np.float32)
    end_of_stroke[np.cumsum([len(s) for s in strokes]) - 1] = 1.0
    offsets = np.diff(points, axis=0, prepend=points[:1])
    offsets[:, 1] *= -1.0
    return np.concatenate([offsets, end_of_stroke[:, None]], axis=1)


def csr_lines(content):
    """A transcription file's bytes → the non-blank lines after its `CSR:` line, stripped."""
    lines = content.decode("iso-8859-1").splitlines()
    start = [line.strip() for line in lines].index("CSR:")
    return [line.strip() for line in lines[start + 1:] if line.strip()]


def read_iam_lines(test, datasets_dir):
    """`(strokes, texts)` of the card's IAM-OnDB lines, sorted by name, as the recipes read and clean them.

    The lines of the forms on the card's list (`forms`, e.g. testset_v.txt), with the readings they lost put
    back where the card says `filled_readings` (see `line_offsets`), without those whose pen jumps more than
    `max_offset` units. With `transcriptions`, each line's text is its form's CSR line of the same number (a
    form whose line and text counts differ is left out whole), and lines with an empty text or points per
    character outside `points_per_character` are left out too; without, texts are None.
    """
    with open(os.path.join(datasets_dir, test["forms"]), encoding="ascii") as f:
        forms = {line.strip() for line in f if line.strip()}
    lines = {}
    with tarfile.open(os.path.join(datasets_dir, test["strokes"]), "r:gz") as tar:
        for member in tar:
            name = os.path.basename(member.name)[: -len(".xml")]
            if member.isfile() and member.name.endswith(".xml") and name.rsplit("-", 1)[0] in forms:
                lines[name] = line_offsets(tar.extractfile(member).read(), test.get("filled_readings"))
    texts = dict.fromkeys(lines)
    if "transcriptions" in test:
        with tarfile.open(os.path.join(datasets_dir, test["transcriptions"]), "r:gz") as tar:
            csr = {os.path.basename(m.name)[: -len(".txt")]: csr_lines(tar.extractfile(m).read())
                   for m in tar if m.isfile() and m.name.endswith(".txt")}
        for form in {name.rsplit("-", 1)[0] for name in lines}:
            names = sorted(name for name in lines if name.rsplit("-", 1)[0] == form)
            text_lines = csr.get(form, [])
            if [name.rsplit("-", 1)[1] for name in names] != [f"{n:02d}" for n in range(1, len(text_lines) + 1)]:
                for name in names:
                    del lines[name], texts[name]
                continue
            texts.update(zip(names, text_lines))
    low, high = test.get("points_per_character", (0, np.inf))
    kept = sorted(name for name, strokes in lines.items() if np.abs(strokes[:, :2]).max() <= test["max_offset"]
                  and (texts[name] is None or (texts[name].strip() and low <= len(strokes) / len(texts[name]) <= high)))
    return [lines[name] for name in kept], [texts[name] for name in kept]


def scored(signature, strokes, texts=None):
    """The `score` signature's outputs for lines `strokes` (`[points, 3]` each, with `texts` where given), one call."""
    lengths = np.array([len(line) for line in strokes], np.int32)
    padded = np.zeros((len(strokes), max(lengths.max(), 1), 3), np.float32)
    for row, line in enumerate(strokes):
        padded[row, : lengths[row]] = line
    inputs = {"strokes": tf.constant(padded), "lengths": tf.constant(lengths)}
    if texts is not None:
        inputs["text"] = tf.constant(texts)
    return signature(**inputs)


def scores_text(saved_model):
    """Whether the export scores lines with their text (synthesis), not strokes alone (prediction)."""
    return "text" in saved_model.signatures["score"].structured_input_signature[1]


def line_nats(signature, strokes, texts):
    """The signature's `nats` of each line (with its text where `texts` are not None), BATCH lines a call."""
    order = sorted(range(len(strokes)), key=lambda i: len(strokes[i]))  # alike lengths together: less padding
    nats = np.zeros(len(strokes))
    for start in range(0, len(order), BATCH):
        batch = order[start: start + BATCH]
        result = scored(signature, [strokes[i] for i in batch],
                        [texts[i] for i in batch] if texts[0] is not None else None)
        if not all(result["valid"].numpy()):
            raise ValueError(f"the export refused a line: {result['error'].numpy()}")
        nats[batch] = result["nats"].numpy()
    return nats


def answers(signature, texts):
    """The signature's outputs for `texts`, BATCH rows a call, as lists of Python values."""
    outputs = {}
    for start in range(0, len(texts), BATCH):
        result = signature(text=tf.constant(texts[start: start + BATCH]))
        for key, value in result.items():
            outputs.setdefault(key, []).extend(value.numpy().tolist())
    return outputs


def decoded(values):
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]


def measure(card, saved_model, datasets_dir):
    """(value, details) of the card's test metric, recomputed from the export."""
    test, serving = card["test"], saved_model.signatures["serving_default"]
    if test["metric"] == "BLEU":
        sources, references = read_parallel(test, datasets_dir)
        translations = decoded(answers(serving, sources)["translation"])
        metric = sacrebleu.BLEU()
        bleu = metric.corpus_score(translations, [references])
        return bleu.score, {"sacrebleu": str(bleu), "signature": str(metric.get_signature()), "sentences": len(sources)}
    if test["metric"] == "accuracy":
        texts, classes = read_imdb_test(test, datasets_dir)
        labels = decoded(answers(serving, texts)["label"])
        return sum(label == truth for label, truth in zip(labels, classes)) / len(texts), {"documents": len(texts)}
    if test["metric"] == "bits_per_character":
        text = read_ptb_char(os.path.join(datasets_dir, test["file"]))
        result = saved_model.signatures["score"](text=tf.constant([text]))
        return float(result["bits_per_character"][0]), {"characters": int(result["characters"][0])}
    if test["metric"] == "nats_per_line":
        strokes, texts = read_iam_lines(test, datasets_dir)
        nats = line_nats(saved_model.signatures["score"], strokes, texts)
        return float(nats.mean()), {"lines": len(strokes), "nats_per_point": float(nats.sum() / sum(map(len, strokes)))}
    raise ValueError(f"{card['name']}: unknown metric {test['metric']!r}")


def example_answers(card, saved_model):
    """The export's answers to the card's example inputs: (output, valid, error) each.

    The output is the translation, the label, for a character model the greedy continuation (temperature 0) of
    `GREEDY_CHARACTERS` characters after the input, or for a handwriting model the `score` (nats) of the
    example's line (`written_lines`).
    """
    if card["test"]["metric"] == "nats_per_line":
        return line_answers(saved_model, card["examples"])
    inputs = [e["input"] for e in card["examples"]]
    if card["test"]["metric"] == "bits_per_character":
        rows = len(inputs)
        outputs = saved_model.signatures["generate"](
            text=tf.constant(inputs), length=tf.fill([rows], GREEDY_CHARACTERS), temperature=tf.zeros([rows]),
            seed=tf.zeros([rows], tf.int64))
        outputs, key = {name: value.numpy().tolist() for name, value in outputs.items()}, "text"
    else:
        outputs = answers(saved_model.signatures["serving_default"], inputs)
        key = "translation" if card["test"]["metric"] == "BLEU" else "label"
    return [{"input": example["input"], "output": output, "valid": valid, "error": error}
            for example, output, valid, error in zip(card["examples"], decoded(outputs[key]), outputs["valid"],
                                                      decoded(outputs["error"]))]


def written_lines(saved_model, examples):
    """`examples` with the line the export writes for each: `strokes`, `[[Δx, Δy, end of stroke], ...]`.

    An example's `input` is the text to write (synthesis, `serving_default`) or the points to draw (prediction,
    `sample`), `written` its bias and seed. A handwriting card's examples are lines the model wrote itself: the
    IAM's strokes are for research use and never ship. The offsets are kept to 0.01 of the tracker's unit, and
    the scores are of the kept numbers. A refused row keeps no point.
    """
    signatures = saved_model.signatures
    inputs = [e["input"] for e in examples]
    arguments = {"bias": tf.constant([float(e["written"]["bias"]) for e in examples]),
                 "seed": tf.constant([int(e["written"]["seed"]) for e in examples], tf.int64)}
    if scores_text(saved_model):
        result = signatures["serving_default"](text=tf.constant(inputs), **arguments)
    else:
        result = signatures["sample"](steps=tf.constant(inputs, tf.int32), **arguments)
    strokes, lengths = result["strokes"].numpy(), result["lengths"].numpy()
    return [{**example, "strokes": [[round(float(dx), 2), round(float(dy), 2), int(pen)] for dx, dy, pen in line[:n]]}
            for example, line, n in zip(examples, strokes, lengths)]


def line_answers(saved_model, examples):
    """The export's `score` of each example's stored line: `nats` the output."""
    strokes = [np.reshape(np.array(e["strokes"], np.float32), (-1, 3)) for e in examples]
    texts = [e["input"] for e in examples] if scores_text(saved_model) else None
    result = {name: value.numpy().tolist() for name, value in scored(saved_model.signatures["score"], strokes,
                                                                      texts).items()}
    return [{**example, "output": nats, "valid": valid, "error": error}
            for example, nats, valid, error in zip(examples, result["nats"], result["valid"], decoded(result["error"]))]


def same_answers(answers, recorded):
    """Whether the answers are the recorded ones: equal, but for scores (floats), within `EXAMPLE_NATS_TOLERANCE`
    (a line's sum of thousands of terms differs in its last bits with the CPU's vector width)."""
    if len(answers) != len(recorded):
        return False
    for answer, record in zip(answers, recorded):
        if answer.keys() != record.keys():
            return False
        for key, value in answer.items():
            if isinstance(value, float):
                if abs(value - record[key]) > EXAMPLE_NATS_TOLERANCE:
                    return False
            elif value != record[key]:
                return False
    return True


def signature_facts(saved_model):
    """Each signature's inputs and outputs: `{name: {"inputs": {input: "dtype [shape]"}, "outputs": {...}}}`."""
    describe = lambda spec: f"{spec.dtype.name} [{', '.join('None' if d is None else str(d) for d in spec.shape)}]"
    facts = {}
    for name, function in sorted(saved_model.signatures.items()):
        facts[name] = {"inputs": {k: describe(v) for k, v in sorted(function.structured_input_signature[1].items())},
                       "outputs": {k: describe(v) for k, v in sorted(function.structured_outputs.items())}}
    return facts


def file_sizes(version):
    """Bytes of the version directory's parts: the graph, the variables, each file of assets.extra/, in all."""
    sizes = {}
    for root, _, files in os.walk(version):
        for file in files:
            path = os.path.join(root, file)
            part = os.path.relpath(path, version)
            key = part if part.startswith("assets.extra") else part.split(os.sep)[0]
            sizes[key] = sizes.get(key, 0) + os.path.getsize(path)
    return {**dict(sorted(sizes.items())), "total": sum(sizes.values())}


def write_card(name, card):
    for path, text in ((card_path(name), json.dumps(card, indent=1, ensure_ascii=False) + "\n"),
                       (markdown_path(name), markdown(card))):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".tmp", path)


def markdown_path(name):
    return os.path.join(SAVEDMODELS, name, "MODEL_CARD.md")


def size_text(size):
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def cell(text):
    """Text for a Markdown table cell: a `|` would end the cell."""
    return str(text).replace("|", "\\|")


def markdown(card):
    """MODEL_CARD.md: the card's facts, as a reader takes them in."""
    test, training, data = card["test"], card["training"], card["data"]
    value = format(test["value"], {"BLEU": ".2f", "nats_per_line": ".1f"}.get(test["metric"], ".4f"))
    lines = [f"# {card['name']}", "", card["summary"], "",
             "Generated from `card.json` by `python benchmarks/model_cards.py --markdown`; "
             "`python benchmarks/model_cards.py --models " + card["name"] + "` recomputes the test metric from the "
             "export alone.", "", "## Use", "", "```bash", *card["use"], "```", "",
             "## Results", "", "| | |", "|---|---|",
             f"| test {test['metric'].replace('_', ' ')} ({test['split']}) | **{value}** |"]
    lines += [f"| {key} | {cell(text)} |" for key, text in test.get("detail", {}).items()]
    if "sacrebleu" in test:
        lines += [f"| sacrebleu | `{test['sacrebleu']}` |", f"| sacrebleu signature | `{cell(test['signature'])}` |"]
    lines += [f"| validation | {cell(card['validation'])} |", f"| the paper | {cell(card['paper'])} |", "",
              "## Data", "", data["description"], "",
              *[f"- {split}: {text}" for split, text in data["splits"].items()], "", f"Licence: {data['licence']}", "",
              "## Training", "", "```bash", training["command"], "```", "",
              f"- config: `{training['config']}`", f"- code: commit {training['commit']}",
              f"- precision: {training['precision']}", f"- time: {training['time']}",
              f"- machine: {training['machine']}", "",
              "## Model", "", card["model"], "", "## Export", "",
              f"`{card['name']}/{card['version']}/`, {size_text(card['files']['total'])}: "
              + ", ".join(f"`{part}` {size_text(size)}" for part, size in card["files"].items() if part != "total")
              + ".", "", *card["export"], "", "| signature | inputs | outputs |", "|---|---|---|"]
    for name, facts in card["signatures"].items():
        describe = lambda part: "<br>".join(f"`{k}` {v}" for k, v in facts[part].items())
        lines.append(f"| `{name}` | {describe('inputs')} | {describe('outputs')} |")
    lines += ["", "Answers to five inputs, checked in CI (`tests/test_shipped_models.py`):", "", *example_table(card)]
    lines += ["", "## Limits", "", *[f"- {limit}" for limit in card["limits"]], ""]
    return "\n".join(lines)


def example_table(card):
    """The card's examples as Markdown table lines; a handwriting model's as its lines and their scores."""
    if card["test"]["metric"] != "nats_per_line":
        return ["| input | output | valid | error |", "|---|---|---|---|",
                *[f"| {cell(repr(e['input']))} | {cell(repr(e['output']))} | {e['valid']} | {cell(e['error'])} |"
                  for e in card["examples"]]]
    return ["Each line is one the export wrote itself (`card.json` keeps its points) at the bias and seed given; "
            "the output is the `score` signature's nats of that line.", "",
            "| input | written | points | nats | valid | error |", "|---|---|---|---|---|---|",
            *[f"| {cell(repr(e['input']))} | bias {e['written']['bias']}, seed {e['written']['seed']} | "
              f"{len(e['strokes'])} | {e['output']:.2f} | {e['valid']} | {cell(e['error'])} |"
              for e in card["examples"]]]


def check(name, datasets_dir, record):
    card = read_card(name)
    started = time.perf_counter()
    saved_model = tf.saved_model.load(newest_version(name))
    value, details = measure(card, saved_model, datasets_dir)
    seconds = time.perf_counter() - started
    metric = card["test"]["metric"]
    if record:
        card["test"].update(value=value, **details)
        if metric == "nats_per_line":
            card["examples"] = written_lines(saved_model, card["examples"])
        card.update(version=int(os.path.basename(newest_version(name))), signatures=signature_facts(saved_model),
                    files=file_sizes(newest_version(name)), examples=example_answers(card, saved_model))
        write_card(name, card)
        print(f"{name}: {metric} {value:.4f} recorded ({seconds:.0f} s)")
        return True
    expected = card["test"]["value"]
    ok = abs(value - expected) <= TOLERANCE[metric]
    print(f"{name}: {metric} {value:.4f}, card {expected:.4f}, difference {value - expected:+.4f} "
          f"({'within' if ok else 'OUTSIDE'} ±{TOLERANCE[metric]}; {seconds:.0f} s)", flush=True)
    return ok


def requested_models(models_flag, arguments):
    """The models to check: `--models a,b` and the words after it (`--models a b`, as the shell passes them), else
    every shipped model."""
    return [*(models_flag or []), *arguments] or shipped_models()


def main(argv):
    names = requested_models(FLAGS.models, argv[1:])
    unknown = [name for name in names if not os.path.exists(card_path(name))]
    if unknown:
        raise app.UsageError(f"no card for {', '.join(unknown)}: savedmodels/<name>/card.json "
                             f"(cards: {', '.join(shipped_models()) or 'none'})")
    if FLAGS.markdown:
        for name in names:
            write_card(name, read_card(name))
        return
    failed = [name for name in names if not check(name, FLAGS.datasets_dir, FLAGS.record)]
    assert "zoo" not in sys.modules, "the check must not depend on the zoo's code"
    if failed:
        sys.exit(f"differs from its card: {', '.join(failed)}")


if __name__ == "__main__":
    app.run(main)
