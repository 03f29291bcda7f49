from .ec_vit import ECViT
from .prompted_ec_vit import PromptedECViT

__all__ = ['ECViT', 'PromptedECViT']
