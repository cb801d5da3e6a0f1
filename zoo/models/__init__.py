"""Models of the zoo, one module a paper."""

from zoo.models.graves import GravesHandwritingModel, GravesTextModel
from zoo.models.han import HierarchicalAttentionNetwork

__all__ = ["GravesHandwritingModel", "GravesTextModel", "HierarchicalAttentionNetwork"]
