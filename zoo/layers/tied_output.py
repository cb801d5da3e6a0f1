"""An output layer over a vocabulary that shares its matrix with an embedding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class TiedOutput(keras.layers.Layer):
    """Logits from the transposed matrix of an `Embedding` layer and a bias of its own.

    Press & Wolf 2017, "Using the Output Embedding to Improve Language Models"
    (arXiv 1608.05859): the output layer's weights are the embedding matrix E,

        logits = x Eᵀ + b

    so a word's input and output vectors are one vector, learnt from both
    sides. With a vocabulary shared by source and target, one matrix serves
    the source embedding, the target embedding and the output (three-way
    tying: fairseq's `--share-all-embeddings`, OpenNMT's `share_embeddings`).

    The layer owns only the bias; the matrix stays the embedding layer's, so
    an optimizer sees one variable and a `.keras` file stores it once.

    Args:
        embedding: the `keras.layers.Embedding` whose matrix `[vocabulary,
            embedding_dim]` is used. The layer is built with it; it is not
            part of this layer's config (the model that owns both passes it).

    Call arguments:
        inputs: float tensor `[..., embedding_dim]` (x).

    Returns:
        `[..., vocabulary]`: the logits.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> from zoo.layers import TiedOutput
    >>> embedding = keras.layers.Embedding(5, 3)
    >>> embedding.build((None,))
    >>> output = TiedOutput(embedding)
    >>> x = np.random.default_rng(0).random((2, 3), "float32")
    >>> logits = output(x)
    >>> bool(np.allclose(logits, x @ embedding.embeddings.numpy().T + output.bias.numpy()))
    True
    """

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.supports_masking = True  # as the Dense it replaces: the padding mask passes on to the logits

    def build(self, input_shape):
        if not self.embedding.built:
            self.embedding.build((None,))
        if input_shape[-1] != self.embedding.output_dim:
            raise ValueError(f"an output tied to the embeddings needs inputs of the embedding size "
                             f"{self.embedding.output_dim}, got {input_shape[-1]}")
        self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros", name="bias")

    def call(self, inputs):
        matrix = ops.cast(self.embedding.embeddings, self.compute_dtype)
        bias = ops.cast(self.bias, self.compute_dtype)
        if len(inputs.shape) == 2:
            # One decoding step's rows: (E xᵀ)ᵀ multiplies E as it is stored; x Eᵀ, with the transposed
            # operand, is the CPU matrix product's slow path at a few rows (benchmarks/README.md).
            return ops.transpose(ops.matmul(matrix, ops.transpose(inputs))) + bias
        return ops.matmul(inputs, ops.transpose(matrix)) + bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.embedding.input_dim)
