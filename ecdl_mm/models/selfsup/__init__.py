# Copyright (c) ecdl_mm contributors. All rights reserved.
from .ec_mae import ECMAE
from .ec_mae_vit import ECMAEViT

__all__ = ['ECMAE', 'ECMAEViT']
