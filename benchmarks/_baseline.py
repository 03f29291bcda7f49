# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Today's code, side by side with the new: a module of ecdl_mm as committed
at a git revision, imported under another name into the running package
(its relative imports resolve to today's modules).

The default revision is the commit before the GPU-inference work (issue 25):
the inferencers as they were (flip as two model calls, pipeline on the CPU,
decoding in the main process, fp32 eager).
"""
import importlib.util
import os
import subprocess
import sys
from typing import Optional

from _common import REPO_ROOT

#: The last commit before issue 25's inference changes.
BASELINE_REV = '53335a1'


def load_at(rev: str, path: str, name: str) -> Optional[object]:
    """``path`` (e.g. ``ecdl_mm/apis/lesion_inferencer.py``) as of ``rev``,
    imported as ``ecdl_mm.apis.<name>``; None (and a line saying why) when
    git or the revision is not available. Where the checkout has no git
    history, ``ECDL_BASELINE_SRC=DIR`` reads ``DIR/<rev>/<path>`` instead
    (``git show REV:PATH > DIR/REV/PATH`` made it)."""
    exported = os.environ.get('ECDL_BASELINE_SRC')
    try:
        if exported:  # a checkout without .git (e.g. a copy on a GPU box)
            with open(os.path.join(exported, rev, path)) as f:
                source = f.read()
        else:
            source = subprocess.run(['git', 'show', f'{rev}:{path}'],
                                    cwd=REPO_ROOT,
                                    check=True,
                                    capture_output=True,
                                    text=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        print(f'baseline {rev}:{path} not available ({err}); today\'s '
              'figures skipped')
        return None
    package = path.replace('/', '.').rsplit('.', 2)[0]
    full = f'{package}.{name}'
    spec = importlib.util.spec_from_loader(full, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    module.__file__ = f'{rev}:{path}'
    sys.modules[full] = module
    exec(compile(source, module.__file__, 'exec'), module.__dict__)
    return module


def paired_ratio(slow, fast) -> float:
    """Median over rounds of ``slow[i] / fast[i]``: each round timed both
    cases back to back (``interleaved``), so the machine's drift cancels
    in each pair."""
    import statistics
    return statistics.median(a / b for a, b in zip(slow, fast))
