# Copyright (c) ecdl_mm contributors. All rights reserved.
from .grouped_optim_wrapper_constructors import (
    GroupedLayerDecayOptimWrapperConstructor, GroupedOptimWrapperConstructor,
    merge_param_groups, wants_fused)

__all__ = [
    'GroupedOptimWrapperConstructor',
    'GroupedLayerDecayOptimWrapperConstructor', 'merge_param_groups',
    'wants_fused'
]
