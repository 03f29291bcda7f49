from .ec_mae_pretrain_decoder import ECMAEPretrainDecoder

__all__ = ['ECMAEPretrainDecoder']
