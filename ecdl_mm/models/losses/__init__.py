from .cluster_center_loss import ClusterCenterLoss

__all__ = ['ClusterCenterLoss']
