# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The state behind the reader app's routes: the study, its reads, the
blinded orders and tokens (:mod:`.blinding`), the image cache, the refusal
counts (:mod:`.security`) and the in-process analysis run."""
import logging
import os.path as osp
import re
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from .blinding import Blinder, pixels_only_jpeg
from .security import CsrfTokens, RefusalLog
from .store import ReadStore
from .study import Study

logger = logging.getLogger('ecdl_mm.reader_app')
_SECRET_IN_PATH = re.compile(r'/(r|admin)/[^/ ?]*')
TOKEN_RE = re.compile(r'^[0-9a-f]{24}$')
#: Re-encoded images kept in memory (about 0.2 MB each at 1160x1009).
IMAGE_CACHE = 256
#: Largest request body accepted (bytes); larger ones get a 413.
MAX_BODY = 64 * 1024


def mask_secrets(text: str) -> str:
    """``/r/<secret>`` and ``/admin/<secret>`` with the secret masked."""
    return _SECRET_IN_PATH.sub(lambda m: f'/{m.group(1)}/<secret>', text)


class ReaderApp:
    """The state behind the Flask app: study, store, tokens, image cache.

    Args:
        study (Study): The study.
        store (ReadStore, optional): Its reads. Defaults to a new
            :class:`ReadStore` on ``study.db_path``.
    """

    def __init__(self, study: Study, store: Optional[ReadStore] = None):
        self.study = study
        self.store = store or ReadStore(study)
        self.blinder = Blinder(
            bytes.fromhex(self.store.salt),
            [les.lesion_id for les in study.lesions], study.seed)
        self.csrf_tokens = CsrfTokens(bytes.fromhex(self.store.app_key))
        self.refusals = RefusalLog(logger)
        self.by_secret = {r.secret: r for r in study.readers}
        self.lesion_tokens: Dict[Tuple[str, str], Dict[str, int]] = {}
        self.image_tokens: Dict[str, Dict[str, Tuple[int, int]]] = {}
        for r in study.readers:
            images = self.image_tokens.setdefault(r.reader_id, {})
            for s in study.sessions:
                self.lesion_tokens[(r.reader_id, s)] = {
                    self.lesion_token(r.reader_id, s, les.lesion_id): i
                    for i, les in enumerate(study.lesions)
                }
                images.update({
                    self.blinder.image_token(r.reader_id, s, les.lesion_id, k):
                    (i, k)
                    for i, les in enumerate(study.lesions)
                    for k in range(len(les.images))
                })
        self._images: 'OrderedDict[Tuple[int, int], bytes]' = OrderedDict()
        self._lock = threading.Lock()
        self._analysis_lock = threading.Lock()
        self.last_analysis: Optional[str] = None
        out = osp.splitext(study.db_path)[0]
        self.export_path = out + '_export/readers.csv'
        self.analysis_dir = out + '_analysis'

    # -------------------------------------------------------------- tokens
    def lesion_token(self, reader_id: str, session: str,
                     lesion_id: str) -> str:
        """A lesion's token in a reader's session."""
        return self.blinder.lesion_token(reader_id, session, lesion_id)

    def lesion_of_token(self, reader_id: str, session: str,
                        token: str) -> Optional[int]:
        return self.lesion_tokens.get((reader_id, session), {}).get(token)

    def image_urls(self, secret: str, reader_id: str, session: str,
                   lesion: int) -> List[str]:
        les = self.study.lesions[lesion]
        return [
            f'/r/{secret}/img/' +
            self.blinder.image_token(reader_id, session, les.lesion_id, k)
            for k in range(len(les.images))
        ]

    def csrf(self, who: str) -> str:
        """A new CSRF token for one page of ``who``."""
        return self.csrf_tokens.make(who)

    def order(self, reader_id: str, session: str) -> List[int]:
        """The reader's secret random order of the lesions in a session."""
        return self.blinder.order(reader_id, session)

    # -------------------------------------------------------------- images
    def image_bytes(self, lesion: int, k: int) -> bytes:
        """The image rebuilt from its pixels only (cached)."""
        with self._lock:
            data = self._images.get((lesion, k))
            if data is not None:
                self._images.move_to_end((lesion, k))
        if data is None:
            data = pixels_only_jpeg(self.study.lesions[lesion].images[k])
            with self._lock:
                self._images[(lesion, k)] = data
                while len(self._images) > IMAGE_CACHE:
                    self._images.popitem(last=False)
        return data

    # ------------------------------------------------------------- sessions
    def session_state(self, reader_id: str, session: str) -> Tuple[bool, str]:
        """(open, why not) of a reader's session."""
        study = self.study
        if session != 'assisted':
            return True, ''
        n = len(study.lesions)
        if self.store.count_reads(reader_id, 'unassisted') < n:
            return False, 'opens after the unassisted session'
        if self.store.has_override(reader_id, 'assisted'):
            return True, ''
        last = self.store.last_answer_time(reader_id, 'unassisted') or 0
        opens = last + study.washout_days * 86400
        if time.time() >= opens:
            return True, ''
        when = datetime.fromtimestamp(opens, timezone.utc)
        return False, f'opens {when:%Y-%m-%d %H:%M} UTC (wash-out)'

    def next_read(self, reader_id: str,
                  session: str) -> Optional[Tuple[int, int, str]]:
        """(position, lesion index, phase) of the next read, or None."""
        answers = self.store.answers(reader_id, session)
        for pos, i in enumerate(self.order(reader_id, session)):
            lid = self.study.lesions[i].lesion_id
            for phase in self.study.phases(session):
                if (lid, phase) not in answers:
                    return pos + 1, i, phase
        return None

    def refuse(self, kind: str, detail: str):
        """Count and log a refused request (never with a secret in it)."""
        from flask import request
        self.refusals.refuse(
            kind, f'{request.method} {mask_secrets(request.path)} from '
            f'{request.remote_addr}: {detail}')

    def analysis_args(self) -> dict:
        study = self.study
        return dict(
            model=study.model.path,
            readers=self.export_path,
            out_dir=self.analysis_dir,
            sessions=study.analysis_sessions(),
            bootstrap_rounds=study.bootstrap_rounds,
            title=study.title,
            note=study.model_note or None)

    def analysis_command(self) -> str:
        """The command line doing what the "Run analysis" button does."""
        import shlex
        a = self.analysis_args()
        return shlex.join([
            'python', 'tools/analysis/reader_study.py', '--model', a['model'],
            '--readers', a['readers'], '--out-dir', a['out_dir'], '--sessions',
            *a['sessions'], '--bootstrap-rounds',
            str(a['bootstrap_rounds']), '--title', a['title']
        ] + (['--note', a['note']] if a['note'] else []))

    def run_analysis(self) -> Tuple[bool, str]:
        """Export, then run the reader study on the export, in this process
        through the library (one run at a time)."""
        if not self._analysis_lock.acquire(blocking=False):
            return False, 'an analysis is running already'
        try:
            return self._run_analysis()
        finally:
            self._analysis_lock.release()

    def _run_analysis(self) -> Tuple[bool, str]:
        from ecdl_mm.evaluation.clinical.predictions import StudyDataError
        from ecdl_mm.evaluation.report.reader_study_files import \
            write_reader_study
        self.store.export_csv(self.export_path)
        try:
            _, lines = write_reader_study(**self.analysis_args())
        except StudyDataError as e:
            return False, f'analysis failed: {e}'
        except Exception as e:  # shown to the admin, traceback in the log
            logger.exception('reader study analysis failed')
            return False, f'analysis failed: {type(e).__name__}: {e}'
        return True, 'analysis done: ' + ' | '.join(lines[:3])
