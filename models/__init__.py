"""Model builders for recurrent text classifiers, one per cell type, for keras-tuner."""

from models.architectures import ARCHITECTURES, Architecture, resolve_architectures
from models.builders import build_model
from models.head import compile_for_classes, encode_targets, predict_proba
from models.search_space import SearchSpace, default_search_space
from models.spec import ModelSpec

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "ModelSpec",
    "SearchSpace",
    "build_model",
    "compile_for_classes",
    "default_search_space",
    "encode_targets",
    "predict_proba",
    "resolve_architectures",
]
