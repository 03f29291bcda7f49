from .transforms import *  # noqa: F401,F403
from .ecnbi_dataset import ECNBIDataset  # noqa: F401
from .split_sheet import check_split_leakage, load_split_sheet  # noqa: F401
from .lesion_splits import (collect_lesions, fold_split,  # noqa: F401
                            make_splits, ratio_split, write_splits)
