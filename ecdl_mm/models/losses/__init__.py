# Copyright (c) ecdl_mm contributors. All rights reserved.
from .cluster_center_loss import ClusterCenterLoss
from .lpips_loss import LPIPSLoss

__all__ = ['ClusterCenterLoss', 'LPIPSLoss']
