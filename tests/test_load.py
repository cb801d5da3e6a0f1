"""A loaded SavedModel used as a server uses it: 16 threads, mixed good and bad requests, about a minute.

Every request is answered as in a single-threaded run (good rows exactly; bad
arguments with the same INVALID_ARGUMENT), and resident memory stops growing.
Marked slow: `pytest -m slow tests/test_load.py -s` prints requests/s and memory.
"""

import concurrent.futures
import os
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import export, text
from zoo.models import GNMT, GravesTextModel

THREADS = 16
SECONDS = 60


def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture(scope="module")
def signatures(han_export, tmp_path_factory):
    keras.utils.set_random_seed(3)
    pieces = text.SubwordTokenizer(text.build_subword_model(["the cat sat on the mat.", "a dog ran."] * 20, 300))
    translator = GNMT(pieces.vocabulary_size, embedding_dim=8, units=8, encoder_layers=2, decoder_layers=2,
                      attention_units=8)
    translator((np.ones((1, 1), np.int32), np.ones((1, 1), np.int32)))
    characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b", "c", "."])
    writer = GravesTextModel(characters.vocabulary_size, units=8, num_layers=2)
    writer(np.ones((1, 1), np.int32))
    base = tmp_path_factory.mktemp("load")
    translation = tf.saved_model.load(export.export_translation(translator, pieces, str(base / "gnmt"), max_length=8,
                                                                tflite=False)).signatures
    generate = tf.saved_model.load(export.export_graves_text(writer, characters, str(base / "text"),
                                                             tflite=False)).signatures["generate"]
    han = tf.saved_model.load(han_export).signatures["serving_default"]
    return {"han": han, "translate": translation["serving_default"], "beam_search": translation["beam_search"],
            "score": translation["score"], "generate": generate}


def requests():
    """(signature, inputs): good rows mixed with bad ones, and requests whose arguments fail them whole."""
    texts = ["the cat sat.", "", "a dog ran on the mat.", "\x00\x1b[31m", "   ", "the mat."]
    rows = len(texts)
    return [
        ("han", {"text": tf.constant(["It was superb. Koko ba.", "", "\x00 pi ba."])}),
        ("translate", {"text": tf.constant(texts)}),
        ("beam_search", {"text": tf.constant(texts), "beam_size": tf.constant([3] * rows),
                         "alpha": tf.constant([0.6] * rows), "beta": tf.constant([0.2] * rows)}),
        ("beam_search", {"text": tf.constant(texts[:2]), "beam_size": tf.constant([0, 0]),  # fails whole
                         "alpha": tf.constant([0.6] * 2), "beta": tf.constant([0.2] * 2)}),
        ("score", {"source": tf.constant(texts), "target": tf.constant(["a cat."] * rows)}),
        ("generate", {"text": tf.constant(["ab", "", "c."]), "length": tf.constant([20, 5, 40]),
                      "temperature": tf.constant([1.0, 0.0, 0.5]), "seed": tf.constant([1, 2, 3], tf.int64)}),
        ("generate", {"text": tf.constant(["ab"]), "length": tf.constant([0]),  # fails whole
                      "temperature": tf.constant([1.0]), "seed": tf.constant([1], tf.int64)}),
    ]


def answer(signatures, name, inputs):
    try:
        return {key: value.numpy() for key, value in signatures[name](**inputs).items()}
    except tf.errors.InvalidArgumentError as e:
        return type(e).__name__


def same(got, expected):
    if isinstance(expected, str):
        return got == expected
    return got.keys() == expected.keys() and all(
        np.array_equal(got[k], expected[k]) if expected[k].dtype == object else np.allclose(got[k], expected[k])
        for k in expected)


@pytest.mark.slow
def test_sixteen_threads_get_the_single_threaded_answers_and_memory_stops_growing(signatures):
    work = requests()
    expected = [answer(signatures, name, inputs) for name, inputs in work]
    assert [e == "InvalidArgumentError" for e in expected] == [False, False, False, True, False, False, True]
    counts, wrong, memory = [0] * THREADS, [], []
    stop = time.monotonic() + SECONDS
    lock = threading.Lock()

    def serve(thread):
        rng = np.random.default_rng(thread)
        while time.monotonic() < stop:
            index = int(rng.integers(len(work)))
            got = answer(signatures, *work[index])
            if not same(got, expected[index]):
                with lock:
                    wrong.append((work[index][0], got))
            counts[thread] += 1

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(serve, thread) for thread in range(THREADS)]
        while time.monotonic() < stop:
            memory.append(resident_mib())
            time.sleep(2)
        for future in futures:
            future.result()
    total = sum(counts)
    print(f"\n{total} requests in {SECONDS} s from {THREADS} threads: {total / SECONDS:.1f} requests/s; resident "
          f"memory {memory[0]:.0f} MiB at the start, {max(memory[: len(memory) // 2]):.0f} MiB most in the first "
          f"half, {max(memory[len(memory) // 2:]):.0f} MiB most in the second")
    assert not wrong, wrong[:3]
    assert min(counts) > 0
    # Caches and thread pools fill in the first half; after that memory must not keep growing.
    assert max(memory[len(memory) // 2:]) < max(memory[: len(memory) // 2]) * 1.05 + 20
