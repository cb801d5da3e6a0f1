"""Serving: SavedModel against TFLite (float and dynamic-range quantised) at batch 1: latency, size, accuracy.

Each model is trained by its recipe (a subprocess, as a user runs it) on its
demo config, or taken from a finished run named by `--trained`; its export's
SavedModel and `.tflite` are then measured, and the Keras model is converted
once more with dynamic-range quantisation (`zoo.export.*_to_tflite(...,
quantize=True)`). The `.tflite` files run in LiteRT
(`ai_edge_litert.interpreter`, the runtime a device uses; TensorFlow's
`tf.lite.Interpreter` is deprecated). Accuracy is each form's own on the
run's test split: accuracy (HAN), bits per character (Graves text), nats per
point (Graves handwriting), BLEU of greedy decoding (translation: the TFLite
graph is greedy, so the SavedModel's `greedy` signature is its reference).

What each latency covers: the SavedModel takes raw text (HAN, translation)
or generates (Graves) in one call; the HAN `.tflite` takes word ids (the
tokenisation has no TFLite kernels, see `zoo.export`), and a Graves `.tflite`
is one step, so its latency is that of the device's loop over 100 steps
(argmax feedback) against the SavedModel generating 100.

Handwriting synthesis (`synthesis`, run.py's `synthesis` section) has rows
of its own: writing 40-character lines, the SavedModel's `serving_default`
(the sampling loop in the graph) at batch 1 and 16 against a Python loop
over the export's one-step LiteRT cell (`graves_synthesis_step.tflite`,
batch 1: 16 lines are 16 loops, one after another; `zoo.web.SynthesisLoop`),
which draws each point in the cell from uniform numbers it is given, as a
device (and the browser page, `web/`) does.
"""

import json
import math
import os
import subprocess
import sys
import time

import keras
import numpy as np
import sacrebleu
import tensorflow as tf
from ai_edge_litert import interpreter as litert

from zoo import export, models, registry, text, web
from zoo.data import documents, handwriting, handwriting_text, parallel, text_corpus
from zoo.layers.mdn import mixture_negative_log_likelihood

from decoding import median_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSLATION_MODELS = tuple(entry.name for entry in registry.MODELS if entry.family == "translation")
# model: (recipe, demo config, epochs for --quick)
RECIPES = {"han": ("train_han.py", "han_demo.flags", 3),
           "graves_text": ("train_graves_text.py", "graves_text_demo.flags", 2),
           "graves_handwriting": ("train_graves_handwriting.py", "graves_handwriting_demo.flags", 2),
           "sutskever": ("train_sutskever.py", "sutskever_demo.flags", 3),
           "cho": ("train_cho.py", "cho_demo.flags", 5),
           "gnmt": ("train_gnmt.py", "gnmt_demo.flags", 4),
           "graves_synthesis": ("train_graves_synthesis.py", "graves_synthesis_demo.flags", 15)}
TFLITE_FILES = {"han": "han.tflite", "graves_text": "graves_text_step.tflite",
                "graves_handwriting": "graves_handwriting_step.tflite"}
STEPS = 100  # generated characters / points per Graves latency
SYNTHESIS_CHARACTERS = 40  # characters of each line the synthesis rows write
SYNTHESIS_LINES = 16  # texts written; the SavedModel's larger batch


def read_flagfile(path):
    """`--name=value` lines of a recipe config → dict (comments and blank lines skipped)."""
    flags = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("--") and "=" in line:
                name, value = line[2:].split("=", 1)
                flags[name] = value
    return flags


def train_demo(name, scratch, quick):
    """Runs the model's recipe on its demo config into `scratch`; returns the run's flags."""
    script, config, quick_epochs = RECIPES[name]
    flags = read_flagfile(os.path.join(ROOT, "recipes", "configs", config))
    flags.update(model_dir=os.path.join(scratch, "runs", name), export_dir=os.path.join(scratch, "savedmodels", name),
                 data_dir=os.path.join(scratch, "data", os.path.basename(flags["data_dir"])))
    if quick:
        flags["epochs"] = str(quick_epochs)
    command = [sys.executable, os.path.join(ROOT, "recipes", script)] + [f"--{k}={v}" for k, v in flags.items()]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{script} failed:\n{result.stderr[-3000:]}")
    print(f"  trained {name} ({flags['epochs']} epochs of the demo config) in {time.perf_counter() - started:.0f} s",
          flush=True)
    return flags


def finished_run(config):
    """The flags of a run a recipe config already trained (its --model_dir holds metrics.json)."""
    flags = read_flagfile(config)
    for name in ("model_dir", "export_dir", "data_dir", "splits_dir"):
        if name in flags:
            flags[name] = os.path.normpath(os.path.join(ROOT, flags[name]))
    if not os.path.exists(os.path.join(flags["model_dir"], "metrics.json")):
        raise FileNotFoundError(f"{config}: no finished run in {flags['model_dir']} (train it first)")
    return flags


def _median_ms(function, repeats):
    return 1000 * median_seconds(function, repeats)


def _directory_bytes(path, skip=export.EXTRA_DIR):
    return sum(os.path.getsize(os.path.join(root, f)) for root, dirs, files in os.walk(path)
               for f in files if skip not in os.path.relpath(root, path).split(os.sep))


class TFLite:
    """One LiteRT interpreter (as on a device), inputs by name, outputs in the order the function returned them."""

    def __init__(self, content, custom_ops=False):
        if custom_ops:  # the translation graph's tokeniser is tensorflow-text's TFLite custom op
            import tensorflow_text
            self.interpreter = litert.InterpreterWithCustomOps(
                custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS, model_content=content)
        else:
            self.interpreter = litert.Interpreter(model_content=content)
        self.interpreter.allocate_tensors()
        self.inputs = {export.tflite_input_name(d): d for d in self.interpreter.get_input_details()}
        self.outputs = export.tflite_outputs(self.interpreter)
        self.size = len(content)

    def __call__(self, **inputs):
        for name, value in inputs.items():
            detail = self.inputs[name]
            self.interpreter.set_tensor(detail["index"], np.asarray(value, detail["dtype"]))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(d["index"]) for d in self.outputs]


def _row(name, data, metric, savedmodel_path, savedmodel_ms, savedmodel_score, forms, higher_is_better):
    """forms: {"float": (TFLite, ms, score), "quantised": (...)}."""
    row = {"model": name, "data": data, "metric": metric, "higher_is_better": higher_is_better,
           "savedmodel_ms": savedmodel_ms, "savedmodel_bytes": _directory_bytes(savedmodel_path),
           "savedmodel_score": savedmodel_score}
    for form, (lite, ms, score) in forms.items():
        row[f"tflite_{form}_ms"], row[f"tflite_{form}_bytes"], row[f"tflite_{form}_score"] = ms, lite.size, score
    row["quantisation_change"] = row["tflite_quantised_score"] - row["tflite_float_score"]
    return row


def _export_path(flags):
    with open(os.path.join(flags["model_dir"], "metrics.json")) as f:
        return json.load(f)["export"]


def _keras_model(flags, filename):
    return keras.models.load_model(os.path.join(flags["model_dir"], filename),
                                   custom_objects={name: getattr(models, name) for name in models.__all__})


def han(flags, quick):
    _, test = documents.load_documents(flags["dataset"], flags["data_dir"])
    count = min(len(test), 100 if quick else 1000)
    texts, labels = test.texts[:count], np.asarray(test.labels[:count])
    path = _export_path(flags)
    serve = tf.saved_model.load(path).signatures[export.SERVING_SIGNATURE]
    predicted = np.argmax(serve(text=tf.constant(texts))["probabilities"].numpy(), -1)
    model = _keras_model(flags, "han.keras")
    sentences, words = int(flags["max_sentences"]), int(flags["max_words"])
    tokenizer = text.DocumentTokenizer.load(flags["model_dir"], max_sentences=sentences, max_words=words,
                                            pad_to_max=True)
    ids = tokenizer(tf.constant(texts)).numpy()
    forms = {}
    for form, content in (("float", _extra(path, "han.tflite")),
                          ("quantised", export.han_to_tflite(model, sentences, words, quantize=True))):
        lite = TFLite(content)
        accuracy = np.mean([np.argmax(lite(word_ids=ids[i: i + 1])[0]) == labels[i] for i in range(count)])
        forms[form] = (lite, _median_ms(lambda: lite(word_ids=ids[:1]), 50), float(accuracy))
    return _row("han", f"{flags['dataset']} test, {count} documents", "accuracy", path,
                _median_ms(lambda: serve(text=tf.constant(texts[:1])), 50), float(np.mean(predicted == labels)),
                forms, True)


def _extra(path, filename):
    with open(os.path.join(path, export.EXTRA_DIR, filename), "rb") as f:
        return f.read()


def _step_states(lite):
    return {name: np.zeros(d["shape"], np.float32) for name, d in lite.inputs.items() if name.startswith("state_")}


def _run_steps(lite, input_name, inputs, states=None):
    """Feeds `inputs` one step at a time; returns each step's output and the final states."""
    states = states or _step_states(lite)
    names = sorted(states, key=lambda n: (int(n.split("_")[1]), n[-1] == "c"))
    outputs = []
    for x in inputs:
        output, *new = lite(**{input_name: x, **states})
        states = dict(zip(names, new))
        outputs.append(output)
    return np.concatenate(outputs), states


def graves_text(flags, quick):
    _, _, test = text_corpus.read_corpus(flags["corpus"], flags["data_dir"])
    model = _keras_model(flags, "graves_text.keras")
    count = 1000 if quick else 10000
    ids = text.CharacterTokenizer.load(flags["model_dir"]).encode(test[: count + 1])
    inputs, targets = ids[:-1], ids[1:]

    def bits(logits):
        log_probs = tf.nn.log_softmax(logits).numpy()
        return float(-np.mean(log_probs[np.arange(len(targets)), targets]) / math.log(2))

    path = _export_path(flags)
    generate = tf.saved_model.load(path).signatures["generate"]
    forms = {}
    for form, content in (("float", _extra(path, TFLITE_FILES["graves_text"])),
                          ("quantised", export.graves_step_tflite(model, export.CHARACTER_STEP_INPUT, quantize=True))):
        lite = TFLite(content)
        logits, _ = _run_steps(lite, "char_id", inputs.reshape(-1, 1, 1))

        def loop():
            char, states = np.array([[inputs[0]]]), None
            for _ in range(STEPS):
                out, states = _run_steps(lite, "char_id", [char], states)
                char = np.argmax(out, -1).reshape(1, 1)

        forms[form] = (lite, _median_ms(loop, 5), bits(logits))
    reference = bits(model(inputs[None])[0].numpy())
    savedmodel_ms = _median_ms(lambda: generate(text=tf.constant(["T"]), length=tf.constant([STEPS]),
                                                temperature=tf.constant([1.0]), seed=tf.constant([1], tf.int64)), 5)
    return _row("graves_text", f"{flags['corpus']} test, {count} characters; latency: {STEPS} characters",
                "bits/char", path, savedmodel_ms, reference, forms, False)


def graves_handwriting(flags, quick):
    lines = handwriting.read_iam_ondb(flags["data_dir"], int(flags.get("max_lines", 0)))
    train, _, test = handwriting.split_by_form(lines)
    mean, std = handwriting.offset_statistics(train)
    test = handwriting.normalise(test, mean, std)
    lines = test.strokes[: 2 if quick else 20]
    model = _keras_model(flags, "graves_handwriting.keras")
    components = model.num_components

    def nats_per_point(y_hats):
        total = sum(float(np.sum(mixture_negative_log_likelihood(line, y_hat, components)))
                    for line, y_hat in zip(lines, y_hats))
        return total / sum(len(line) for line in lines)

    inputs = [np.concatenate([np.array([handwriting.START], np.float32), line[:-1]]) for line in lines]
    path = _export_path(flags)
    sample = tf.saved_model.load(path).signatures["sample"]
    forms = {}
    for form, content in (("float", _extra(path, TFLITE_FILES["graves_handwriting"])),
                          ("quantised", export.graves_step_tflite(model, export.POINT_STEP_INPUT, quantize=True))):
        lite = TFLite(content)
        y_hats = [_run_steps(lite, "point", x.reshape(-1, 1, 1, 3))[0] for x in inputs]

        def loop():
            point, states = np.array([[handwriting.START]], np.float32), None
            for _ in range(STEPS):
                y_hat, states = _run_steps(lite, "point", [point], states)
                # The most likely component's mean, pen up when ê says so: cheap, deterministic feedback.
                k = np.argmax(y_hat[0, 1: 1 + components])
                point = np.array([[[y_hat[0, 1 + components + k], y_hat[0, 1 + 2 * components + k],
                                    float(y_hat[0, 0] > 0)]]], np.float32)

        forms[form] = (lite, _median_ms(loop, 5), nats_per_point(y_hats))
    reference = nats_per_point([model(x[None])[0].numpy() for x in inputs])
    savedmodel_ms = _median_ms(
        lambda: sample(steps=tf.constant([STEPS]), bias=tf.constant([0.0]), seed=tf.constant([1], tf.int64)), 5)
    return _row("graves_handwriting", f"{flags['dataset']} test, {len(lines)} lines; latency: {STEPS} points",
                "nats/point", path, savedmodel_ms, reference, forms, False)


def synthesis_texts(flags, count=SYNTHESIS_LINES, length=SYNTHESIS_CHARACTERS):
    """`count` texts of `length` characters: the run's validation lines (read, cleaned and split as the recipe
    does), their words run together and cut into lines; the words go round again if they run out. A word with
    a character outside the model's alphabet is left out: the LiteRT loop refuses it, as the page does."""
    _, valid, _ = handwriting_text.read_synthesis_lines(flags["data_dir"], flags.get("splits_dir"),
                                                        int(flags.get("max_lines", 0)))
    alphabet = set(handwriting_text.SYNTHESIS_ALPHABET[2:])
    words = [word for word in " ".join(valid.texts).split() if set(word) <= alphabet]
    if not words:
        raise ValueError(f"{flags['data_dir']}: no validation text to write")
    texts, line, position = [], "", 0
    while len(texts) < count:
        word = words[position % len(words)]
        position += 1
        line = f"{line} {word}" if line else word
        if len(line) >= length:
            if line[length - 1] == " ":  # cut there, the line would end in a space: start it again at this word
                line = word
            else:
                texts.append(line[:length])
                line = ""
    return texts, f"{flags.get('dataset', 'demo')} valid"


def synthesis(flags, quick):
    """Rows: points/s and ms a line of the SavedModel (batch 1, 16) and the LiteRT cell's Python loop (1, 16 × 1).

    Each text i is written with seed i by both (the SavedModel's stateless seeds, `zoo.web.Uniforms` in the
    loop: different random numbers, so a line's length agrees only roughly).
    """
    path = _export_path(flags)
    texts, data = synthesis_texts(flags)
    bias = float(flags.get("sample_bias", 1.0))
    serve = tf.saved_model.load(path).signatures[export.SERVING_SIGNATURE]
    cell = web.SynthesisLoop(path)
    one, many = (3, 1) if quick else (10, 3)

    def savedmodel(rows):
        out = serve(text=tf.constant(texts[:rows]), bias=tf.constant([bias] * rows),
                    seed=tf.constant(np.arange(rows), tf.int64))
        return out["lengths"].numpy().tolist(), out["finished"].numpy().tolist()

    def loop(rows):
        written = [cell.write(texts[i], bias, i) for i in range(rows)]
        return [len(line.points) for line in written], [line.finished for line in written]

    rows = []
    for way, function in (("SavedModel serving_default", savedmodel), ("LiteRT step loop (Python)", loop)):
        for batch in (1, SYNTHESIS_LINES):
            lengths, finished = function(batch)  # every call writes the same points: the seeds are fixed
            seconds = median_seconds(lambda: function(batch), one if batch == 1 else many)
            rows.append({"model": "graves_synthesis", "way": way, "batch": batch,
                         "calls": 1 if way.startswith("SavedModel") else batch,
                         "points_per_second": sum(lengths) / seconds, "ms_per_line": 1000 * seconds / batch,
                         "ms": 1000 * seconds, "lengths": lengths, "finished": finished,
                         "characters": SYNTHESIS_CHARACTERS, "bias": bias, "texts": texts[:batch],
                         "data": f"{data}, {batch} line{'s' if batch > 1 else ''} of {SYNTHESIS_CHARACTERS} "
                                 f"characters, bias {bias:g}"})
    return rows


def translation_run(name, flags):
    """(test pairs, tokenizer, Keras model, export path) of a trained translation run."""
    _, _, test = parallel.read_parallel(flags["dataset"], flags["data_dir"], flags.get("source_language", "en"),
                                        flags.get("target_language", "de"))
    tokenizer = text.SubwordTokenizer.load(flags["model_dir"])
    path = _export_path(flags)
    return test, tokenizer, _keras_model(flags, f"{name}.keras"), path


def translation(name, flags, quick):
    test, tokenizer, model, path = translation_run(name, flags)
    count = min(len(test), 100 if quick else 1000)
    sources, references = test.sources[:count], test.targets[:count]
    # The .tflite runs serving_default's beam search (the run's beam size, alpha and beta).
    serve = tf.saved_model.load(path).signatures[export.SERVING_SIGNATURE]
    served = [t.decode("utf-8") for t in serve(text=tf.constant(sources))["translation"].numpy()]
    bleu = lambda hypotheses: sacrebleu.corpus_bleu(hypotheses, [references]).score
    with open(os.path.join(path, export.EXTRA_DIR, "translation.json")) as f:
        search = json.load(f)
    quantised = export.translation_to_tflite(model, tokenizer, search["max_length"], search["beam_size"],
                                             search["alpha"], search["beta"], quantize=True)
    forms = {}
    for form, content in (("float", _extra(path, "translation.tflite")), ("quantised", quantised)):
        lite = TFLite(content, custom_ops=True)
        # The device's own text (its detokenizer writes byte pieces as " ⁇ ").
        hypotheses = [dict(zip(export.TRANSLATION_TFLITE_OUTPUTS, lite(text=np.array([s.encode()]))))["translation"][0]
                      .decode("utf-8") for s in sources]
        forms[form] = (lite, _median_ms(lambda: lite(text=np.array([sources[0].encode()])), 20), bleu(hypotheses))
    return _row(name, f"{flags['dataset']} test, {count} sentences, beam {search['beam_size']}", "BLEU", path,
                _median_ms(lambda: serve(text=tf.constant(sources[:1])), 20), bleu(served), forms, True)


def measure(name, flags, quick):
    if name in TRANSLATION_MODELS:
        return translation(name, flags, quick)
    return globals()[name](flags, quick)
