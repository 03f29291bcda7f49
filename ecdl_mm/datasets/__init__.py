from .transforms import *  # noqa: F401,F403
from .ecnbi_dataset import ECNBIDataset  # noqa: F401
from .split_sheet import (DataError, check_split_leakage,  # noqa: F401
                          load_split_sheet)
from .few_shot_ecnbi_dataset import (FewShotECNBIDataset,  # noqa: F401
                                     sample_k_shot)
from .lesion_splits import (collect_lesions, fold_split,  # noqa: F401
                            make_splits, ratio_split, write_splits)
