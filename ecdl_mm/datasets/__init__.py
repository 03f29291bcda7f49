# Copyright (c) ecdl_mm contributors. All rights reserved.
from .ecnbi_dataset import ECNBIDataset  # noqa: F401
from .few_shot_ecnbi_dataset import FewShotECNBIDataset  # noqa: F401
from .few_shot_ecnbi_dataset import sample_k_shot
from .lesion_splits import fold_split  # noqa: F401
from .lesion_splits import (collect_lesions, make_splits, ratio_split,
                            write_splits)
from .restart_copy import add_restart_markers  # noqa: F401
from .split_sheet import check_split_leakage  # noqa: F401
from .split_sheet import DataError, load_split_sheet
from .transforms import *  # noqa: F401,F403
