"""Model zoo: importing this package registers every model family."""

from . import allcnnc, lenet, mobilenetv2, resnet, vgg  # noqa: F401  (each registers its models)
from . import smallcnn  # noqa: F401  (registers smallcnn)
from .layers import ArchOptions
from .registry import available_models, build_model, register_model
from .sites import record_sites, site_names

__all__ = ["ArchOptions", "available_models", "build_model", "register_model", "record_sites",
           "site_names"]
