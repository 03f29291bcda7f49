# Copyright (c) ecdl_mm contributors. All rights reserved.
from .ec_vit import ECViT
from .prompted_ec_vit import PromptedECViT

__all__ = ['ECViT', 'PromptedECViT']
