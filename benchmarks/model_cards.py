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
test documents whose `label` is their class (a row the export refuses counts as wrong). It fails when a
result differs from the card by more than the tolerance (BLEU 0.1, accuracy 0.001).

It imports TensorFlow, tensorflow-text (whose ops the translation graphs run) and sacrebleu, never `zoo`:
the card's number holds for anyone who has the export and the data.

`--record` writes into the card what it measured: the metric (and sacrebleu's signature), the export's
signatures, its files' sizes and its answers to the card's example inputs (which `tests/test_shipped_models.py`
checks in CI); then, as `--markdown` does alone, it writes `MODEL_CARD.md` from `card.json`, so that the two
never disagree.
"""

import gzip
import json
import os
import re
import sys
import tarfile
import time

import sacrebleu
import tensorflow as tf
import tensorflow_text  # noqa: F401 (the translation graphs' SentencePiece ops)
from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAVEDMODELS = os.path.join(ROOT, "savedmodels")
TOLERANCE = {"BLEU": 0.1, "accuracy": 0.001}
BATCH = 64

flags.DEFINE_list("models", None, "Shipped models to check (default: every savedmodels/<name>/card.json).")
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
    raise ValueError(f"{card['name']}: unknown metric {test['metric']!r}")


def example_answers(card, saved_model):
    """The export's answers to the card's example inputs: (translation or label, valid, error) each."""
    outputs = answers(saved_model.signatures["serving_default"], [e["input"] for e in card["examples"]])
    key = "translation" if card["test"]["metric"] == "BLEU" else "label"
    return [{"input": example["input"], "output": output, "valid": valid, "error": error}
            for example, output, valid, error in zip(card["examples"], decoded(outputs[key]), outputs["valid"],
                                                      decoded(outputs["error"]))]


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
    value = f"{test['value']:.2f}" if test["metric"] == "BLEU" else f"{test['value']:.4f}"
    lines = [f"# {card['name']}", "", card["summary"], "",
             "Generated from `card.json` by `python benchmarks/model_cards.py --markdown`; "
             "`python benchmarks/model_cards.py --models " + card["name"] + "` recomputes the test metric from the "
             "export alone.", "", "## Use", "", "```bash", *card["use"], "```", "",
             "## Results", "", "| | |", "|---|---|",
             f"| test {test['metric']} ({test['split']}) | **{value}** |"]
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
    lines += ["", "Answers to five inputs, checked in CI (`tests/test_shipped_models.py`):", "",
              "| input | output | valid | error |", "|---|---|---|---|"]
    lines += [f"| {cell(repr(e['input']))} | {cell(repr(e['output']))} | {e['valid']} | {cell(e['error'])} |"
              for e in card["examples"]]
    lines += ["", "## Limits", "", *[f"- {limit}" for limit in card["limits"]], ""]
    return "\n".join(lines)


def check(name, datasets_dir, record):
    card = read_card(name)
    started = time.perf_counter()
    saved_model = tf.saved_model.load(newest_version(name))
    value, details = measure(card, saved_model, datasets_dir)
    seconds = time.perf_counter() - started
    metric = card["test"]["metric"]
    if record:
        card["test"].update(value=value, **details)
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


def main(argv):
    del argv
    names = FLAGS.models or shipped_models()
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
