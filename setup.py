from setuptools import find_packages, setup

setup(
    name="seq2seq-zoo",
    version="0.1.0",
    description="Sequence-to-sequence model zoo on Keras/TensorFlow with servable SavedModel and TFLite exports.",
    packages=find_packages(include=["zoo", "zoo.*"]),
    python_requires=">=3.11,<3.12",
    install_requires=[
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "tensorflow-text==2.21.1",
        "absl-py>=2.1,<3",
        "tensorboard==2.21.0",
        # Renders sampled handwriting to PNG (zoo.strokes).
        "matplotlib==3.11.2",
        # Corpus BLEU of the translation recipes, the field's standard implementation.
        "sacrebleu==2.6.0",
        # Learns the translation models' subword vocabularies (Kudo & Richardson 2018); tensorflow-text runs them.
        "sentencepiece==0.2.3",
        # word2vec, HAN's pretrained word embeddings (Yang et al. 2016 §3.2; --word2vec_epochs).
        "gensim==4.4.0",
    ],
    extras_require={
        # LiteRT runs the .tflite files in tests, as on a device (tf.lite.Interpreter is deprecated in TF 2.21);
        # hypothesis draws the inputs of the property tests; pytest-xdist runs the suite on every core (most
        # tests trace graphs or start processes on one core each); Playwright drives the system's Chromium
        # through the handwriting page (tests/test_web.py; its own browsers are not downloaded).
        "test": ["pytest>=8,<10", "ai-edge-litert==2.3.0", "hypothesis==6.170.17", "pytest-xdist==3.8.0",
                 "playwright==1.65.1"],
        # benchmarks/: PyTorch for the training comparison (its CPU build: elsewhere add
        # --extra-index-url https://download.pytorch.org/whl/cpu, or pip takes a CUDA build).
        "bench": ["torch==2.13.0", "ai-edge-litert==2.3.0"],
    },
)
