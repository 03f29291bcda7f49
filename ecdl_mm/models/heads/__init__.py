# Copyright (c) ecdl_mm contributors. All rights reserved.
from .ec_mae_pretrain_head import ECMAEPretrainHead
from .supervised_clustering_head import SupervisedClusteringHead

__all__ = ['ECMAEPretrainHead', 'SupervisedClusteringHead']
