"""seq2seq-zoo: sequence models of the seq2seq family, trained by recipes and exported for TF Serving and TFLite."""

__version__ = "0.1.0"
