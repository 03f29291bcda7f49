from .ec_vit import ECViT

__all__ = ['ECViT']
