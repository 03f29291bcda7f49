# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The admin routes of the reader-study app (:func:`.app.create_app`):
progress and wash-out override, the ``readers.csv`` export, the reader-study
analysis and its report files. Every route needs the admin secret in its
path (403 and a counted refusal otherwise).

    GET  /admin/<secret>/                progress, wash-out override, export
    POST /admin/<secret>/override        open the assisted session early
    GET  /admin/<secret>/export          readers.csv
    POST /admin/<secret>/analysis        the reader study, in-process
    GET  /admin/<secret>/report/<file>   its outputs (report.html)
"""
import hmac
import os.path as osp
from datetime import datetime, timezone
from typing import Callable

from .security import escape_log
from .state import ReaderApp, logger


def register_admin_routes(app, state: ReaderApp, page: Callable,
                          check_csrf: Callable, strict_form: Callable) -> None:
    """Add the admin routes to the Flask ``app`` of ``state``'s study.

    Args:
        app (flask.Flask): The app :func:`.app.create_app` builds.
        state (ReaderApp): Its state.
        page (callable): ``page(template, status=200, **kw)``, a rendered
            page.
        check_csrf (callable): ``check_csrf(who)``: 403 unless the form's
            CSRF token is ``who``'s.
        strict_form (callable): ``strict_form(rules)``: the POSTed form,
            exactly as the page sends it, or a 400.
    """
    from flask import Response, abort, redirect
    from werkzeug.utils import safe_join

    study = state.study

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
            command=state.analysis_command(),
            refused=sorted(state.refusals.counts.items()),
            note=study.model_note,
            flash=state.last_analysis,
            report=osp.isfile(osp.join(state.analysis_dir, 'report.html')))

    @app.post('/admin/<secret>/override')
    def override(secret):
        admin_or_403(secret)
        check_csrf('admin')
        form = strict_form(
            dict(
                reader=[r.reader_id for r in study.readers],
                reason=lambda v: 0 < len(v.strip()) <= 500 and not any(
                    ord(ch) < 32 for ch in v)))
        rid, reason = form['reader'], form['reason'].strip()
        state.store.override(rid, 'assisted', reason)
        logger.info('wash-out of %s overridden: %s', rid, escape_log(reason))
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
        strict_form({})
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
