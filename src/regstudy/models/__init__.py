"""Model zoo: importing this package registers every model family."""

from . import (  # noqa: F401  (each registers its models)
           allcnnc,
           lenet,
           mobilenetv2,
           resnet,
           smallcnn,  # noqa: F401  (registers smallcnn)
           vgg,
)
from .layers import ArchOptions
from .registry import available_models, build_model, register_model
from .sites import record_sites, site_names

__all__ = ["ArchOptions", "available_models", "build_model", "register_model", "record_sites",
           "site_names"]
