from .transforms import *  # noqa: F401,F403
from .ecnbi_dataset import ECNBIDataset  # noqa: F401
from .split_sheet import check_split_leakage, load_split_sheet  # noqa: F401
from .few_shot_ecnbi_dataset import (FewShotECNBIDataset,  # noqa: F401
                                     sample_k_shot)
