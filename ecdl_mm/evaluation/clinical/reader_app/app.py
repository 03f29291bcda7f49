# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader-study web app (Flask).

Why Flask: a small, long-maintained framework whose defaults fit a study run
on one workstation: server-rendered pages and plain HTML forms (no JavaScript
build, nothing for a reader's browser to cache or break), Jinja autoescaping,
and Werkzeug's threaded server for the handful of readers of a study, bound to
127.0.0.1 unless told otherwise. Persistence is :class:`ReadStore` (SQLite).

Routes (every reader and admin route carries its secret in the path; nothing
else identifies anyone)::

    GET  /                               neutral page
    GET  /r/<secret>/                    the reader's sessions and progress
    GET  /r/<secret>/s/<session>         the next lesion to read
    POST /r/<secret>/s/<session>         an answer (CSRF token, lesion token)
    GET  /r/<secret>/img/<token>         an image, re-encoded (no metadata)
    GET  /admin/<secret>/                progress, wash-out override, export
    POST /admin/<secret>/override        open the assisted session early
    GET  /admin/<secret>/export          readers.csv
    POST /admin/<secret>/analysis        tools/analysis/reader_study.py
    GET  /admin/<secret>/report/<file>   its outputs (report.html)

Blinding: lesions and images are known to pages only by opaque tokens
(HMAC of a per-database random salt, the reader and the item), different for
every reader, so a token says nothing about the class, the lesion folder or
the file name, and one reader's tokens are refused for another. Images are
decoded and re-encoded as plain JPEG, which drops EXIF/ICC/comments, and are
sent without file name, modification time or ETag.

Refusals (unknown reader secret, wrong or missing admin secret, a cross-site
or token-less POST, an image or lesion token that is not the reader's, a
malformed path) answer 4xx and are logged to the ``events`` table and the
``ecdl_mm.reader_app`` logger.
"""
import hashlib
import hmac
import io
import logging
import os.path as osp
import random
import re
import shlex
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

from .store import ReadStore
from .study import Study

logger = logging.getLogger('ecdl_mm.reader_app')
_REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))
READER_STUDY_TOOL = osp.join(_REPO_ROOT, 'tools', 'analysis',
                             'reader_study.py')
_SECRET_IN_PATH = re.compile(r'/(r|admin)/[^/ ?]*')
#: Re-encoded images kept in memory (about 0.2 MB each at 1160x1009).
IMAGE_CACHE = 256


def mask_secrets(text: str) -> str:
    """``/r/<secret>`` and ``/admin/<secret>`` with the secret masked."""
    return _SECRET_IN_PATH.sub(lambda m: f'/{m.group(1)}/<secret>', text)


class ReaderApp:
    """The state behind the Flask app: study, store, tokens, image cache.

    Args:
        study (Study): The study.
        store (ReadStore, optional): Its reads. Defaults to a new
            :class:`ReadStore` on ``study.db_path``.
        analysis_timeout (float): Seconds the "run analysis" button waits
            for ``reader_study.py``. Defaults to 600.
    """

    def __init__(self,
                 study: Study,
                 store: Optional[ReadStore] = None,
                 analysis_timeout: float = 600):
        self.study = study
        self.store = store or ReadStore(study)
        self.analysis_timeout = analysis_timeout
        self._key = bytes.fromhex(self.store.salt)
        self._app_key = bytes.fromhex(self.store.app_key)
        self.by_secret = {r.secret: r for r in study.readers}
        self.lesion_tokens: Dict[Tuple[str, str], Dict[str, int]] = {}
        self.image_tokens: Dict[str, Dict[str, Tuple[int, int]]] = {}
        for r in study.readers:
            for s in study.sessions:
                self.lesion_tokens[(r.reader_id, s)] = {
                    self.lesion_token(r.reader_id, s, les.lesion_id): i
                    for i, les in enumerate(study.lesions)
                }
            self.image_tokens[r.reader_id] = {
                self.token('image', r.reader_id, f'{les.lesion_id}|{k}'):
                (i, k)
                for i, les in enumerate(study.lesions)
                for k in range(len(les.images))
            }
        self._images: 'OrderedDict[Tuple[int, int], bytes]' = OrderedDict()
        self._lock = threading.Lock()
        self._analysis_lock = threading.Lock()
        self.last_analysis: Optional[str] = None
        out = osp.splitext(study.db_path)[0]
        self.export_path = out + '_export/readers.csv'
        self.analysis_dir = out + '_analysis'

    # -------------------------------------------------------------- tokens
    def token(self, kind: str, reader_id: str, item: str) -> str:
        msg = f'{kind}|{reader_id}|{item}'.encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:24]

    def lesion_token(self, reader_id: str, session: str,
                     lesion_id: str) -> str:
        """A lesion's token in a reader's session (another in each
        session, so the two sessions' pages cannot be matched)."""
        return self.token('lesion', reader_id, f'{session}|{lesion_id}')

    def lesion_of_token(self, reader_id: str, session: str,
                        token: str) -> Optional[int]:
        return self.lesion_tokens.get((reader_id, session), {}).get(token)

    def csrf(self, who: str) -> str:
        return hmac.new(self._app_key, f'csrf|{who}'.encode(),
                        hashlib.sha256).hexdigest()

    def order(self, reader_id: str, session: str) -> List[int]:
        """The reader's seeded random order of the lesions in a session."""
        idx = list(range(len(self.study.lesions)))
        random.Random(f'{self.study.seed}|{reader_id}|{session}').shuffle(idx)
        return idx

    # -------------------------------------------------------------- images
    def image_bytes(self, lesion: int, k: int) -> bytes:
        """The image re-encoded as a plain JPEG (cached)."""
        with self._lock:
            data = self._images.get((lesion, k))
            if data is not None:
                self._images.move_to_end((lesion, k))
        if data is None:
            from PIL import Image
            path = self.study.lesions[lesion].images[k]
            with Image.open(path) as img:
                img = img.convert('RGB')
                buf = io.BytesIO()
                img.save(buf, format='JPEG', quality=92)
            data = buf.getvalue()
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
        """Log a refused request (never with a secret in it)."""
        from flask import request
        path = mask_secrets(request.path)
        text = (f'{request.method} {path} from {request.remote_addr}: '
                f'{detail}')
        logger.warning('refused (%s) %s', kind, text)
        self.store.event(kind, text)

    def analysis_command(self) -> List[str]:
        study = self.study
        ref, new = study.analysis_sessions()
        return [
            sys.executable, READER_STUDY_TOOL, '--model', study.model.path,
            '--readers', self.export_path, '--out-dir', self.analysis_dir,
            '--sessions', ref, new, '--bootstrap-rounds',
            str(study.bootstrap_rounds), '--title', study.title
        ] + (['--note', study.model_note] if study.model_note else [])

    def run_analysis(self) -> Tuple[bool, str]:
        """Export, then run ``reader_study.py`` on the export (one run at
        a time)."""
        if not self._analysis_lock.acquire(blocking=False):
            return False, 'an analysis is running already'
        try:
            return self._run_analysis()
        finally:
            self._analysis_lock.release()

    def _run_analysis(self) -> Tuple[bool, str]:
        self.store.export_csv(self.export_path)
        try:
            proc = subprocess.run(
                self.analysis_command(),
                capture_output=True,
                text=True,
                timeout=self.analysis_timeout)
        except subprocess.TimeoutExpired:
            return False, (f'reader_study.py ran past '
                           f'{self.analysis_timeout:.0f} s')
        if proc.returncode:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            return False, 'analysis failed: ' + (
                lines[-1] if lines else f'exit {proc.returncode}')
        return True, 'analysis done: ' + ' | '.join(
            proc.stdout.strip().splitlines()[:3])


def create_app(study: Study,
               store: Optional[ReadStore] = None,
               analysis_timeout: float = 600):
    """Build the Flask app of a study (see the module docstring).

    Returns:
        flask.Flask: The app; ``app.extensions['reader_app']`` is its
        :class:`ReaderApp`.
    """
    from flask import (Flask, Response, abort, redirect, render_template,
                       request)
    from jinja2 import DictLoader
    from werkzeug.exceptions import HTTPException
    from werkzeug.utils import safe_join

    from .templates import TEMPLATES

    state = ReaderApp(study, store, analysis_timeout)
    app = Flask('ecdl_mm.reader_app')
    app.jinja_loader = DictLoader(TEMPLATES)
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024, SECRET_KEY=state.store.app_key)
    app.extensions['reader_app'] = state

    def page(name, status=200, **kw):
        return render_template(name, title=study.title, **kw), status

    def message(text, status):
        return page('message.html', status, message=text)

    def reader_or_404(secret):
        reader = state.by_secret.get(secret)
        if reader is None:
            state.refuse('forged reader', 'unknown reader secret')
            abort(404)
        return reader

    def check_csrf(who):
        got = request.form.get('csrf', '')
        if not hmac.compare_digest(got, state.csrf(who)):
            state.refuse('csrf', f'missing or wrong CSRF token ({who})')
            abort(403)

    @app.before_request
    def same_origin_posts():
        if request.method not in ('GET', 'HEAD'):
            site = request.headers.get('Sec-Fetch-Site')
            origin = request.headers.get('Origin')
            here = urlparse(request.host_url)
            if site == 'cross-site' or (origin and origin != 'null' and
                                        (urlparse(origin).scheme,
                                         urlparse(origin).netloc)
                                        != (here.scheme, here.netloc)):
                state.refuse('cross-site', f'Origin {origin!r}, '
                             f'Sec-Fetch-Site {site!r}')
                abort(403)

    @app.after_request
    def headers(resp):
        resp.headers['X-Content-Type-Options'] = 'nosniff'
        resp.headers['Referrer-Policy'] = 'no-referrer'
        resp.headers['X-Frame-Options'] = 'DENY'
        resp.headers.setdefault(
            'Content-Security-Policy',
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline';"
            " form-action 'self'; frame-ancestors 'none'")
        if 'Cache-Control' not in resp.headers:
            resp.headers['Cache-Control'] = 'no-store'
        return resp

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code == 404 and request.endpoint is None:
            state.refuse('bad path', 'no such route')
        text = {
            403: 'Not allowed.',
            404: 'Not found.'
        }.get(e.code, e.name + '.')
        return message(text, e.code)

    @app.get('/')
    def home():
        return page('home.html')

    @app.get('/favicon.ico')
    def favicon():
        return Response(status=204)

    # ------------------------------------------------------------ readers
    @app.get('/r/<secret>/')
    def reader_home(secret):
        reader = reader_or_404(secret)
        rows = []
        for s in study.sessions:
            ok, why = state.session_state(reader.reader_id, s)
            rows.append(
                dict(
                    name=s,
                    total=len(study.lesions),
                    done=state.store.count_reads(reader.reader_id, s),
                    open=ok,
                    why=why,
                    url=f'/r/{secret}/s/{s}'))
        return page('reader.html', reader=reader, sessions=rows)

    @app.get('/r/<secret>/s/<session>')
    def read(secret, session):
        reader = reader_or_404(secret)
        rid = reader.reader_id
        if session not in study.sessions:
            abort(404)
        ok, why = state.session_state(rid, session)
        if not ok:
            return message(f'Session {session} {why}.', 403)
        nxt = state.next_read(rid, session)
        home_url = f'/r/{secret}/'
        if nxt is None:
            return page('done.html', session=session, home=home_url)
        pos, i, phase = nxt
        les = study.lesions[i]
        state.store.shown(rid, session, les.lesion_id, phase)
        images = [
            f'/r/{secret}/img/' +
            state.token('image', rid, f'{les.lesion_id}|{k}')
            for k in range(len(les.images))
        ]
        ai = first = None
        if study.shows_model(session, phase):
            probs = study.model_probs[i]
            best = int(probs.argmax())
            ai = dict(
                label=study.labels[study.classes[best]],
                note=study.model_note.split(' (')[0],
                uncertain=bool(study.model_uncertain[i]),
                probs=[
                    dict(label=study.labels[c], value=float(p))
                    for c, p in zip(study.classes, probs)
                ])
        if session == 'sequential' and phase == 'final':
            diag, conf = state.store.answers(rid,
                                             session)[(les.lesion_id, 'first')]
            first = dict(label=study.labels[diag], confidence=conf)
        return page(
            'read.html',
            session=session,
            phase=phase,
            phase_name={
                'first': 'first read (without the AI)',
                'final': 'final read (with the AI)'
            }.get(phase) if session == 'sequential' else None,
            position=pos,
            total=len(study.lesions),
            home=home_url,
            images=images,
            ai=ai,
            first=first,
            action=f'/r/{secret}/s/{session}',
            csrf=state.csrf(f'reader|{rid}'),
            lesion=state.lesion_token(rid, session, les.lesion_id),
            classes=[
                dict(value=k, label=study.labels[c])
                for k, c in enumerate(study.classes)
            ],
            confidence=[
                dict(
                    value=c,
                    label=f'{c}' + (f' ({study.confidence_labels[c]})'
                                    if c in study.confidence_labels else ''))
                for c in study.confidence
            ])

    @app.post('/r/<secret>/s/<session>')
    def answer(secret, session):
        reader = reader_or_404(secret)
        rid = reader.reader_id
        check_csrf(f'reader|{rid}')
        if session not in study.sessions:
            abort(404)
        ok, why = state.session_state(rid, session)
        if not ok:
            state.refuse('closed session', f'{rid}: {session} {why}')
            return message(f'Session {session} {why}.', 403)
        i = state.lesion_of_token(rid, session, request.form.get('lesion', ''))
        if i is None:
            state.refuse('foreign lesion',
                         f'{rid}: lesion token not issued to this reader')
            abort(400)
        phase = request.form.get('phase', '')
        if phase not in study.phases(session):
            abort(400)
        try:
            diag = study.classes[int(request.form['diagnosis'])]
            conf = int(request.form['confidence'])
        except (KeyError, ValueError, IndexError):
            abort(400)
        if conf not in study.confidence:
            abort(400)
        les = study.lesions[i]
        answers = state.store.answers(rid, session)
        if phase == 'final' and 'first' in study.phases(session) and (
                les.lesion_id, 'first') not in answers:
            abort(400)
        if not state.store.record(rid, session, les.lesion_id, phase, diag,
                                  conf):
            logger.info('repeated submit of %s/%s by %s ignored', session,
                        phase, rid)
        return redirect(f'/r/{secret}/s/{session}', code=303)

    @app.get('/r/<secret>/img/<token>')
    def image(secret, token):
        reader = reader_or_404(secret)
        hit = state.image_tokens[reader.reader_id].get(token)
        if hit is None:
            state.refuse(
                'foreign image',
                f'{reader.reader_id}: image token not issued to '
                'this reader')
            abort(404)
        try:
            data = state.image_bytes(*hit)
        except (OSError, ValueError) as e:
            path = study.lesions[hit[0]].images[hit[1]]
            logger.error('cannot serve image %s: %s', path, e)
            state.store.event('image error', f'{path}: {e}')
            return message(
                'This image cannot be shown (the file is missing or '
                'damaged). Please tell the study administrator; your '
                'answers so far are saved.', 500)
        return Response(
            data,
            mimetype='image/jpeg',
            headers={'Cache-Control': 'private, max-age=3600'})

    # -------------------------------------------------------------- admin
    def admin_or_403(secret):
        if not hmac.compare_digest(secret.encode(),
                                   study.admin_secret.encode()):
            state.refuse('admin', 'wrong admin secret')
            abort(403)

    @app.get('/admin', strict_slashes=False)
    def admin_no_secret():
        state.refuse('admin', 'no admin secret')
        abort(403)

    @app.get('/admin/<secret>/')
    def admin(secret):
        admin_or_403(secret)
        rows = []
        for r in study.readers:
            cells = []
            for s in study.sessions:
                ok, why = state.session_state(r.reader_id, s)
                over = s == 'assisted' and state.store.has_override(
                    r.reader_id, s)
                cells.append(
                    dict(
                        done=state.store.count_reads(r.reader_id, s),
                        note=why if not ok else
                        ('wash-out overridden' if over else '')))
            rows.append(dict(reader=r.reader_id, group=r.group, cells=cells))
        overrides = [(o[0], o[1], datetime.fromtimestamp(
            o[2], timezone.utc).strftime('%Y-%m-%d %H:%M:%S'), o[3])
                     for o in state.store.overrides()]
        return page(
            'admin.html',
            base=f'/admin/{secret}',
            rows=rows,
            sessions=study.sessions,
            total=len(study.lesions),
            washout=(study.washout_days
                     if study.design == 'crossover' else None),
            overrides=overrides,
            csrf=state.csrf('admin'),
            export_path=state.export_path,
            command=shlex.join(state.analysis_command()),  # pastes into bash
            note=study.model_note,
            flash=state.last_analysis,
            report=osp.isfile(osp.join(state.analysis_dir, 'report.html')))

    @app.post('/admin/<secret>/override')
    def override(secret):
        admin_or_403(secret)
        check_csrf('admin')
        rid = request.form.get('reader', '')
        reason = request.form.get('reason', '').strip()
        if rid not in {r.reader_id for r in study.readers} or not reason:
            abort(400)
        state.store.override(rid, 'assisted', reason)
        logger.info('wash-out of %s overridden: %s', rid, reason)
        return redirect(f'/admin/{secret}/', code=303)

    @app.get('/admin/<secret>/export')
    def export(secret):
        admin_or_403(secret)
        text = state.store.export_csv(state.export_path)
        return Response(
            text,
            mimetype='text/csv',
            headers={
                'Content-Disposition': 'attachment; filename=readers.csv'
            })

    @app.post('/admin/<secret>/analysis')
    def analysis(secret):
        admin_or_403(secret)
        check_csrf('admin')
        _, state.last_analysis = state.run_analysis()
        return redirect(f'/admin/{secret}/', code=303)

    @app.get('/admin/<secret>/report/<name>')
    def report(secret, name):
        admin_or_403(secret)
        path = safe_join(state.analysis_dir, name)
        if path is None:
            state.refuse(
                'bad path', f'report file {name!r} outside the '
                'analysis folder')
            abort(404)
        if not osp.isfile(path):
            abort(404)
        with open(path, 'rb') as f:
            data = f.read()
        kind = {
            '.html': 'text/html',
            '.png': 'image/png',
            '.csv': 'text/csv',
            '.json': 'application/json'
        }
        resp = Response(
            data, mimetype=kind.get(osp.splitext(name)[1], 'text/plain'))
        # the report embeds its figures; it is the admin's own output
        resp.headers['Content-Security-Policy'] = (
            "default-src 'none'; img-src 'self' data:; "
            "style-src 'unsafe-inline'")
        return resp

    return app


def make_server(app, host: str = '127.0.0.1', port: int = 8765):
    """A threaded Werkzeug server for ``app`` (``port=0``: any free port,
    see ``server.server_port``); call ``serve_forever()``. Its request log
    masks the secrets in the paths."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as _make

    class Handler(WSGIRequestHandler):

        def log(self, type, message, *args):
            super().log(type, mask_secrets(message % args))

    return _make(host, port, app, threaded=True, request_handler=Handler)


def reader_links(study: Study, base_url: str) -> List[str]:
    """One line per reader with their link, and the admin link."""
    lines = [
        f'reader {r.reader_id} ({r.group}): {base_url}/r/{r.secret}/'
        for r in study.readers
    ]
    lines.append(f'admin: {base_url}/admin/{study.admin_secret}/')
    return lines
