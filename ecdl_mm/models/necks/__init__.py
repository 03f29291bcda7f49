# Copyright (c) ecdl_mm contributors. All rights reserved.
from .ec_mae_pretrain_decoder import ECMAEPretrainDecoder

__all__ = ['ECMAEPretrainDecoder']
