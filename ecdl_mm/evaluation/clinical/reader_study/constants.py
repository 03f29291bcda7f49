# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Names shared by the reader-study modules."""
READER_COLUMNS = ('reader_id', 'group', 'session', 'lesion_id', 'diagnosis')
ALL_READERS = 'all readers'
FOM_KINDS = ('accuracy', 'sensitivity', 'specificity', 'auc')
