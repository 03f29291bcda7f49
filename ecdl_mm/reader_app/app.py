# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader-study web app (Flask).

Why Flask: a small, long-maintained framework whose defaults fit a study run
on one workstation: server-rendered pages and plain HTML forms (no JavaScript
build, nothing for a reader's browser to cache or break), Jinja autoescaping,
and Werkzeug's threaded server for the handful of readers of a study, bound to
127.0.0.1 unless told otherwise. Persistence is :class:`ReadStore` (SQLite).

Routes (every reader and admin route carries its secret in the path; nothing
else identifies anyone; the admin ones are in :mod:`.admin_routes`)::

    GET  /                               neutral page
    GET  /r/<secret>/                    the reader's sessions and progress
    GET  /r/<secret>/s/<session>         the next lesion to read
    POST /r/<secret>/s/<session>         an answer (CSRF token, lesion token)
    GET  /r/<secret>/img/<token>         an image, re-encoded (no metadata)
    GET  /admin/<secret>/                progress, wash-out override, export
    POST /admin/<secret>/override        open the assisted session early
    GET  /admin/<secret>/export          readers.csv
    POST /admin/<secret>/analysis        the reader study, in-process
    GET  /admin/<secret>/report/<file>   its outputs (report.html)

No other route: no static folder, whatever the working directory.

Blinding (:mod:`.blinding`): lesions and images are known to pages only by
opaque tokens keyed by the database's secret salt, different for every
reader and every session, so a token says nothing about the class, the
lesion folder or the file name, one reader's tokens are refused for
another, and the two sessions cannot be matched; the reading orders come
from the same secret. Images are rebuilt from their pixels only
(:func:`.blinding.pixels_only_jpeg`) and sent without file name,
modification time or ETag.

Request hygiene (:mod:`.security`): strict forms (400 with a one-line
reason), per-page CSRF tokens bound to the reader, 413 for any body over
64 KiB (chunked too), a generic ``Server`` header. Refusals (unknown reader
secret, wrong or missing admin secret, a cross-site or token-less POST, a
token that is not the reader's, a malformed path or form) answer 4xx, are
counted in memory (shown on the admin page) and logged, escaped and at a
bounded rate, to the ``ecdl_mm.reader_app`` logger; they never write to the
database.
"""
from typing import List, Optional
from urllib.parse import urlparse

from .admin_routes import register_admin_routes
from .security import (SERVER_HEADER, BodyLimit, FormError, escape_log,
                       parse_form)
from .state import MAX_BODY, TOKEN_RE, ReaderApp, logger, mask_secrets
from .store import ReadStore
from .study import Study


def create_app(study: Study, store: Optional[ReadStore] = None):
    """Build the Flask app of a study (see the module docstring).

    Returns:
        flask.Flask: The app; ``app.extensions['reader_app']`` is its
        :class:`ReaderApp`.
    """
    from flask import (Flask, Response, abort, redirect, render_template,
                       request)
    from jinja2 import DictLoader
    from werkzeug.exceptions import HTTPException

    from .templates import TEMPLATES

    state = ReaderApp(study, store)
    # an importable name and no static folder: no route serves files of
    # the package or of the working directory
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.jinja_loader = DictLoader(TEMPLATES)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY, SECRET_KEY=state.store.app_key)
    app.extensions['reader_app'] = state
    app.wsgi_app = BodyLimit(
        app.wsgi_app, MAX_BODY, lambda env, why: state.refusals.refuse(
            'body', f'{env.get("REQUEST_METHOD")} '
            f'{mask_secrets(env.get("PATH_INFO", ""))}: {why}'))

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
        why = state.csrf_tokens.check(who, request.form.get('csrf', ''))
        if why:
            state.refuse('csrf', f'{why} ({who})')
            abort(
                403,
                description='This page has expired: go back, reload '
                'it and answer again.' if 'expired' in why else None)

    def strict_form(rules):
        """The POSTed form, exactly as the page sends it, or a 400."""
        try:
            return parse_form(request.form, request.mimetype,
                              dict(rules, csrf=lambda v: True))
        except FormError as e:
            state.refuse('bad form', str(e))
            abort(400, description=str(e))

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
        resp.headers['Server'] = SERVER_HEADER
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
        if e.description and e.description != type(e).description:
            text = (f'Bad request: {e.description}'
                    if e.code == 400 else e.description)
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
        images = state.image_urls(secret, rid, session, i)
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
        form = strict_form(
            dict(
                lesion=TOKEN_RE.match,
                phase=study.phases(session),
                diagnosis=[str(k) for k in range(len(study.classes))],
                confidence=[str(c) for c in study.confidence]))
        i = state.lesion_of_token(rid, session, form['lesion'])
        if i is None:
            state.refuse('foreign lesion',
                         f'{rid}: lesion token not issued to this reader')
            abort(400, description='this lesion is not in your session')
        phase = form['phase']
        diag = study.classes[int(form['diagnosis'])]
        conf = int(form['confidence'])
        les = study.lesions[i]
        answers = state.store.answers(rid, session)
        if phase == 'final' and 'first' in study.phases(session) and (
                les.lesion_id, 'first') not in answers:
            abort(400, description='the first read comes before the final')
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
            state.store.event('image error', escape_log(f'{path}: {e}'))
            return message(
                'This image cannot be shown (the file is missing or '
                'damaged). Please tell the study administrator; your '
                'answers so far are saved.', 500)
        return Response(
            data,
            mimetype='image/jpeg',
            headers={'Cache-Control': 'private, max-age=3600'})

    # -------------------------------------------------------------- admin
    register_admin_routes(app, state, page, check_csrf, strict_form)

    return app


def make_server(app, host: str = '127.0.0.1', port: int = 8765):
    """A threaded Werkzeug server for ``app`` (``port=0``: any free port,
    see ``server.server_port``); call ``serve_forever()``. Its request log
    masks the secrets in the paths (Werkzeug escapes their control
    characters); its ``Server`` header names no software version."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as _make

    class Handler(WSGIRequestHandler):

        def log(self, type, message, *args):
            super().log(type, mask_secrets(message % args))

        def version_string(self):
            return SERVER_HEADER

    return _make(host, port, app, threaded=True, request_handler=Handler)


def reader_links(study: Study, base_url: str) -> List[str]:
    """One line per reader with their link, and the admin link."""
    lines = [
        f'reader {r.reader_id} ({r.group}): {base_url}/r/{r.secret}/'
        for r in study.readers
    ]
    lines.append(f'admin: {base_url}/admin/{study.admin_secret}/')
    return lines
