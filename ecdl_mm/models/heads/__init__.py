from .supervised_clustering_head import SupervisedClusteringHead

__all__ = ['SupervisedClusteringHead']
