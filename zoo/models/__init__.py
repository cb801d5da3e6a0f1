"""Models of the zoo, one module a paper."""

# Registers the training loss that a translation recipe's .keras file names, so the file loads with the models.
import zoo.losses  # noqa: F401
from zoo.models.cho import ChoEncoderDecoder
from zoo.models.encoder_decoder import EncoderDecoder
from zoo.models.gnmt import GNMT
from zoo.models.graves import GravesHandwritingModel, GravesTextModel
from zoo.models.graves_synthesis import GravesSynthesisModel
from zoo.models.han import HierarchicalAttentionNetwork
from zoo.models.sutskever import SutskeverSeq2Seq

__all__ = ["ChoEncoderDecoder", "EncoderDecoder", "GNMT", "GravesHandwritingModel", "GravesSynthesisModel",
           "GravesTextModel", "HierarchicalAttentionNetwork", "SutskeverSeq2Seq"]
