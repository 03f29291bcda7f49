# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader-study web app over real HTTP on loopback: study checks, a full
study with export round trip, blinding scan, security refusals, load,
SIGKILL and restart, broken images."""
import io
import json
import os
import os.path as osp
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from helpers.reader_app_client import (Client, demo_study, form_fields,
                                       image_urls, serving, small_root,
                                       write_study)
from PIL import Image

from ecdl_mm.evaluation.clinical import load_lesion_predictions, load_readers
from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.reader_app import (ReadStore, StudyError, load_study,
                                simulated_predictions, write_demo_study)

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def lesion_of(app, reader_id, session, fields):
    state = app.extensions['reader_app']
    return state.study.lesions[state.lesion_of_token(reader_id, session,
                                                     fields['lesion'])]


def planned(reader_id, session, lesion):
    """The answer a simulated reader gives (a pure function, so the test
    knows every read independently of the server)."""
    h = sum(map(ord, f'{reader_id}{session}{lesion.lesion_id}'))
    diag = lesion.target if h % 3 else (lesion.target + 1) % 3
    return diag, 1 + h % 5


def read_session(client, app, reader, session):
    """Answer every lesion of a session (each answer sent twice: the second
    submit must change nothing); returns {lesion_id: (diag, conf)}."""
    given = {}
    while True:
        status, _, html = client.get(f'/r/{reader.secret}/s/{session}')
        assert status == 200
        if b'id="done"' in html:
            return given
        fields = form_fields(html)
        les = lesion_of(app, reader.reader_id, session, fields)
        diag, conf = planned(reader.reader_id, session, les)
        fields.update(diagnosis=diag, confidence=conf)
        for _ in range(2):
            status, headers, _ = client.post(f'/r/{reader.secret}/s/{session}',
                                             fields)
            assert status == 303, status
        given[les.lesion_id] = (diag, conf)


# ------------------------------------------------------------------ study
def test_study_from_demo_sheet_and_operating_point(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    sheet = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name='demo_test')
    assert [les.lesion_id for les in study.lesions
            ] == [f'ecdl-demo/{x}' for x in sheet['lesion_index']]
    assert [les.target
            for les in study.lesions] == sheet['class_index'].tolist()
    for les, cls, idx in zip(study.lesions, sheet['class_english'],
                             sheet['lesion_index']):
        assert les.images == sorted(
            osp.join(demo_root, cls, str(idx), 'Images', f)
            for f in os.listdir(osp.join(demo_root, cls, str(idx), 'Images')))

    # a study naming an operating point shows its calibrated probabilities
    op = OperatingPoint(
        classes=list(CLASSES), temperature=2.5, min_confidence=0.5)
    op.save(str(tmp_path / 'op.json'))
    import yaml
    cfg = yaml.safe_load(open(study.path))
    cfg['model']['operating_point'] = str(tmp_path / 'op.json')
    with open(tmp_path / 'op_study.yaml', 'w') as f:
        yaml.safe_dump(cfg, f)
    calibrated = load_study(str(tmp_path / 'op_study.yaml'))
    p = study.model.scores  # uncalibrated, from the CSV
    q = np.exp(np.log(p) / 2.5)
    q /= q.sum(1, keepdims=True)
    np.testing.assert_allclose(calibrated.model_probs, q, rtol=1e-12)
    np.testing.assert_array_equal(calibrated.model_uncertain, q.max(1) < 0.5)
    assert 0 < calibrated.model_uncertain.sum() < len(q)
    np.testing.assert_allclose(study.model_probs, p, rtol=1e-12)
    assert not study.model_uncertain.any()


def test_sheet_disagreeing_with_model_is_named(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    df = pd.read_csv(study.model.path, dtype={'lesion_id': str})
    import yaml
    cfg = yaml.safe_load(open(study.path))

    def check(frame, *needles):
        frame.to_csv(tmp_path / 'model.csv', index=False)
        cfg['model']['predictions'] = str(tmp_path / 'model.csv')
        with open(tmp_path / 'bad.yaml', 'w') as f:
            yaml.safe_dump(cfg, f)
        with pytest.raises(StudyError) as e:
            load_study(str(tmp_path / 'bad.yaml'))
        for n in needles:
            assert n in str(e.value), str(e.value)

    check(df.drop(index=3), 'disagree', df['lesion_id'][3], 'no prediction')
    extra = df.iloc[[0]].assign(lesion_id='ecdl-demo/99999')
    check(
        pd.concat([df, extra]), 'disagree', 'ecdl-demo/99999',
        'not in the sheet')
    wrong = df.copy()
    wrong.loc[5, ['gt_label', 'gt_class']] = [
        (df['gt_label'][5] + 1) % 3, CLASSES[(df['gt_label'][5] + 1) % 3]
    ]
    check(wrong, 'disagree on the true class', df['lesion_id'][5])


def test_corrupt_and_missing_images_are_clear(tmp_path, demo_root, run_script):
    root, sheet = small_root(tmp_path, demo_root)
    model = simulated_predictions(
        str(root / 'split.csv'), None, 'root', str(tmp_path / 'model.csv'))
    path = write_study(tmp_path, root, root / 'split.csv', model)
    study = load_study(path)
    assert len(study.lesions) == 3

    # a truncated image: refused at start, naming the file
    img_dir = root / sheet['class_english'][1] / str(
        sheet['lesion_index'][1]) / 'Images'
    victim = sorted(os.listdir(img_dir))[0]
    data = open(img_dir / victim, 'rb').read()
    os.unlink(img_dir / victim)
    (img_dir / victim).write_bytes(data[:len(data) // 3])
    res = run_script(
        ['tools/analysis/reader_app.py', '--study', path, '--check'],
        check=False)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and 'unreadable or truncated image' in err[0]
    assert str(img_dir / victim) in err[0]

    # no image at all
    os.unlink(img_dir / victim)
    with pytest.raises(StudyError, match='empty lesion'):
        load_study(path)

    # an image that disappears while the study runs: a clear page, logged
    (img_dir / victim).write_bytes(data)
    study = load_study(path)
    with serving(study) as (base, app):
        c = Client(base)
        status, _, html = c.get('/r/' + 'r' * 24 + '/s/unassisted')
        urls = image_urls(html)
        state = app.extensions['reader_app']
        les_i, k = state.image_tokens['R1'][urls[0].rsplit('/', 1)[1]]
        os.replace(study.lesions[les_i].images[k], tmp_path / 'gone.jpg')
        status, _, body = c.get(urls[0])
        assert status == 500
        assert b'missing or damaged' in body
        assert study.lesions[les_i].images[k] not in body.decode()
        kinds = [e[1] for e in state.store.events()]
        assert 'image error' in kinds


def test_db_of_another_study_is_refused(tmp_path, demo_root):
    root, sheet = small_root(tmp_path, demo_root)
    model = simulated_predictions(
        str(root / 'split.csv'), None, 'root', str(tmp_path / 'model.csv'))
    path = write_study(tmp_path, root, root / 'split.csv', model)
    study = load_study(path)
    ReadStore(study).record('R1', 'unassisted', study.lesions[0].lesion_id,
                            'final', 'adenomas', 3)
    # the same db under a study of other lesions
    sheet.iloc[:2][['class_index', 'class_english', 'lesion_index']].to_csv(
        root / 'two.csv', index=False)
    model2 = simulated_predictions(
        str(root / 'two.csv'), None, 'root', str(tmp_path / 'model2.csv'))
    other = load_study(
        write_study(tmp_path, root, root / 'two.csv', model2, 'two.yaml'))
    other.db_path = study.db_path
    with pytest.raises(StudyError, match='holds the reads of another study'):
        ReadStore(other)
    assert len(ReadStore(study).all_reads()) == 1


def test_demo_command(tmp_path, demo_root, run_script):
    out = tmp_path / 'demo'
    res = run_script([
        'tools/analysis/reader_app.py', '--demo', '--demo-dir',
        str(out), '--data-root', demo_root, '--check'
    ])
    assert '20 lesions, 2 readers, sessions unassisted, assisted' in (
        res.stdout)
    first = open(out / 'study.yaml').read()
    # run again: the same study, secrets and db are kept
    write_demo_study(str(out), demo_root)
    assert open(out / 'study.yaml').read() == first
    study = load_study(str(out / 'study.yaml'))
    assert study.model_note.startswith('SIMULATED')
    assert len(study.model.lesion_ids) == 20


def test_run_analysis_button_says_why_it_failed(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    reader = study.readers[0]
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        c = Client(base)
        url = f'/r/{reader.secret}/s/unassisted'
        for k in range(2):
            fields = form_fields(c.get(url)[2])
            fields.update(diagnosis=k, confidence=2)
            assert c.post(url, fields)[0] == 303
        adm = f'/admin/{study.admin_secret}'
        csrf = state.csrf('admin')
        status, headers, _ = c.post(adm + '/analysis', dict(csrf=csrf))
        assert status == 303
        page = c.get(adm + '/')[2].decode()
    flash = re.search(r'id="flash">([^<]*)<', page).group(1)
    # the reader study's own one-line message about the missing session
    assert flash.startswith('analysis failed: ')
    assert 'Traceback' not in flash and 'Error:' not in flash
    assert 'assisted' in flash
    assert 'id="report"' not in page
    assert len(pd.read_csv(state.export_path)) == 2


# ------------------------------------------------------------- full study
def test_two_readers_both_sessions_export_round_trip(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        c = Client(base)
        given = {}
        for reader in study.readers:
            given[(reader.reader_id,
                   'unassisted')] = read_session(c, app, reader, 'unassisted')
            # wash-out: the assisted session is closed, GET and POST
            status, _, html = c.get(f'/r/{reader.secret}/s/assisted')
            assert status == 403 and b'wash-out' in html
            status, _, home = c.get(f'/r/{reader.secret}/')
            assert b'20 / 20' in home and b'(wash-out)' in home
            fields = dict(
                csrf=state.csrf(f'reader|{reader.reader_id}'),
                lesion=state.lesion_token(reader.reader_id, 'assisted',
                                          study.lesions[0].lesion_id),
                phase='final',
                diagnosis=0,
                confidence=1)
            assert c.post(f'/r/{reader.secret}/s/assisted', fields)[0] == 403
            assert state.refusals.recent[-1][0] == 'closed session'
        # the admin overrides one reader's wash-out (recorded)
        adm = f'/admin/{study.admin_secret}'
        status, _, page = c.get(adm + '/')
        csrf = re.search(rb'name="csrf" value="(\w+)"', page).group(1)
        for reader in study.readers:
            status, _, _ = c.post(
                adm + '/override',
                dict(
                    csrf=csrf.decode(),
                    reader=reader.reader_id,
                    reason='test: wash-out waived'))
            assert status == 303
        assert [(o[0], o[3]) for o in state.store.overrides()] == [
            (r.reader_id, 'test: wash-out waived') for r in study.readers
        ]
        for reader in study.readers:
            # the assisted page shows the model's class and probabilities
            status, _, html = c.get(f'/r/{reader.secret}/s/assisted')
            les = lesion_of(app, reader.reader_id, 'assisted',
                            form_fields(html))
            i = study.lesion_index[les.lesion_id]
            shown = re.findall(rb'<td>([\d.]+) %</td>', html)
            np.testing.assert_allclose([float(x) for x in shown],
                                       100 * study.model.scores[i],
                                       atol=0.051)
            best = CLASSES[int(study.model.scores[i].argmax())]
            assert study.labels[best].encode() in re.search(
                rb'id="ai-class">([^<]+)<', html).group(1)
            given[(reader.reader_id,
                   'assisted')] = read_session(c, app, reader, 'assisted')

        status, headers, csv_bytes = c.get(adm + '/export')
        assert status == 200
    assert csv_bytes.decode() == open(state.export_path).read()
    over = pd.read_csv(
        state.export_path.replace('.csv', '_washout_overrides.csv'))
    assert over[['reader_id', 'session', 'reason']].values.tolist() == [[
        r.reader_id, 'assisted', 'test: wash-out waived'
    ] for r in study.readers]

    # exactly the answers given, in the reader_study format
    model = load_lesion_predictions(study.model.path)
    reads = load_readers(state.export_path, model)
    assert reads.readers == ['E1', 'N1']
    assert reads.sessions == ['unassisted', 'assisted']
    assert reads.groups == {'E1': 'expert', 'N1': 'non-expert'}
    for s, session in enumerate(reads.sessions):
        for r, rid in enumerate(reads.readers):
            for li, lid in enumerate(reads.lesion_ids):
                diag, conf = given[(rid, session)][lid]
                assert reads.diagnosis[s, r, li] == diag
                assert reads.confidence[s, r, li] == conf
    # the export re-imports to the same rows (exact round trip)
    again = pd.read_csv(state.export_path, dtype=str)
    rows = {
        (x.reader_id, x.session, x.lesion_id): (x.diagnosis, int(x.confidence))
        for x in again.itertuples()
    }
    assert rows == {
        (k[0], k[1], lid): (CLASSES[d], c)
        for k, v in given.items()
        for lid, (d, c) in v.items()
    }
    assert len(again) == 80
    # each reader and session has its own order (dicts keep the order the
    # lesions were served in), the same after a restart and set by the seed
    orders = {k: list(v) for k, v in given.items()}
    ids = [les.lesion_id for les in study.lesions]
    assert all(sorted(o) == sorted(ids) for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) == 4
    assert all(o != ids for o in orders.values())
    from ecdl_mm.reader_app import ReaderApp
    again_app = ReaderApp(load_study(study.path))
    reseeded_study = load_study(study.path)
    reseeded_study.seed = 1
    reseeded = ReaderApp(reseeded_study)
    for (rid, session), o in orders.items():
        assert [ids[i] for i in again_app.order(rid, session)] == o
        assert [ids[i] for i in reseeded.order(rid, session)] != o
    # each read once in the db, with the time counted from its first view
    db = state.store.all_reads()
    assert len(db) == 80
    assert all(r[8] == pytest.approx(r[7] - r[6]) for r in db)


def test_sequential_design(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root, design='sequential')
    reader = study.readers[0]
    with serving(study) as (base, app):
        c = Client(base)
        path = f'/r/{reader.secret}/s/sequential'
        given = {}
        for _ in range(2 * len(study.lesions)):
            status, _, html = c.get(path)
            fields = form_fields(html)
            les = lesion_of(app, reader.reader_id, 'sequential', fields)
            # the AI is shown only after the first read
            assert (b'id="ai"' in html) == (fields['phase'] == 'final')
            diag, conf = planned(reader.reader_id, fields['phase'], les)
            fields.update(diagnosis=diag, confidence=conf)
            assert c.post(path, fields)[0] == 303
            given[(fields['phase'], les.lesion_id)] = (CLASSES[diag], conf)
        assert b'id="done"' in c.get(path)[2]
        store = app.extensions['reader_app'].store
        rows = store.export_rows()
    assert {
        (r['session'], r['lesion_id']): (r['diagnosis'], r['confidence'])
        for r in rows
    } == {
        ({
            'first': 'sequential-first',
            'final': 'sequential-final'
        }[p], lid): v
        for (p, lid), v in given.items()
    }


# --------------------------------------------------------------- blinding
def test_blinding_scan_of_every_page_and_image(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    forbidden = set()
    for les in study.lesions:
        cohort, idx = les.lesion_id.split('/')
        forbidden |= {les.lesion_id, f'/{idx}/', f'{idx}/Images'}
        for p in les.images:
            forbidden |= {osp.basename(p), osp.splitext(osp.basename(p))[0]}
    names = set()
    for c in CLASSES:
        names |= {c, c.replace('_', ' '), c.replace('_', '-')}
    url_ok = re.compile(
        r'^/(r/[\w-]+/(s/(unassisted|assisted)|img/[0-9a-f]{24}'
        r')?/?|admin/[\w-]+/(export)?)?$')
    seen = []  # (url, status, headers, body)
    tokens = {}  # session -> lesion tokens of its forms
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        c = Client(base)
        for reader in study.readers:
            state.store.override(reader.reader_id, 'assisted', 'scan')
        pages_by_session = {'unassisted': [], 'assisted': []}
        for reader in study.readers:
            for url in ('/', f'/r/{reader.secret}/'):
                seen.append((url, ) + c.get(url))
            for session in ('unassisted', 'assisted'):
                url = f'/r/{reader.secret}/s/{session}'
                while True:
                    status, headers, html = c.get(url)
                    seen.append((url, status, headers, html))
                    if b'id="done"' in html:
                        break
                    pages_by_session[session].append((reader, html))
                    for img in image_urls(html):
                        seen.append((img, ) + c.get(img))
                    fields = form_fields(html)
                    tokens.setdefault(session, set()).add(fields['lesion'])
                    fields.update(diagnosis=0, confidence=3)
                    seen.append((url, ) + c.post(url, fields))
                    seen.append((f'/r/{reader.secret}/', ) +
                                c.get(f'/r/{reader.secret}/'))
    # a lesion's token differs between sessions and readers
    assert len(tokens['unassisted']) == len(tokens['assisted']) == 40
    assert not tokens['unassisted'] & tokens['assisted']
    images = [s for s in seen if '/img/' in s[0]]
    assert len(images) == 2 * 2 * len(study.lesions)
    for url, status, headers, body in seen:
        assert url_ok.match(url), url
        head = json.dumps(headers).lower()
        for f in forbidden | names:
            assert f.lower() not in url.lower() and f.lower() not in head, (
                url, f)
        for h in ('Content-Disposition', 'Last-Modified', 'ETag'):
            assert h not in headers
        if 'Location' in headers:
            assert url_ok.match(headers['Location'].replace(base, '')
                                or '/'), headers['Location']
        if '/img/' in url:
            assert headers['Content-Type'] == 'image/jpeg'
            assert b'Exif' not in body and b'ICC_PROFILE' not in body
            for f in forbidden | names:
                assert f.encode() not in body
            continue
        text = body.decode()
        # the answer options and the AI panel name classes by design: take
        # them out, then nothing may name a class, a folder or a file
        text = re.sub(
            r'<fieldset id="diagnosis">.*?</fieldset>', '', text, flags=re.S)
        text = re.sub(
            r'<div class="ai" id="ai">.*?</div>', '', text, flags=re.S)
        for f in forbidden | names:
            assert f.lower() not in text.lower(), (url, f)

    # an unassisted page carries nothing lesion-specific: with the opaque
    # tokens and the position masked, every page is the same
    def masked(html):
        text = re.sub(r'name="csrf" value="\w+"', 'CSRF', html.decode())
        text = re.sub(r'[0-9a-f]{24}', 'TOKEN', text)
        return re.sub(r'lesion \d+ of|value="\d+"></progress>', 'POS', text)

    for reader in study.readers:
        pages = {
            masked(h)
            for r, h in pages_by_session['unassisted'] if r is reader
        }
        assert len(pages) == 1
    # a served image is the study image (re-encoded, same pixels)
    les = study.lesions[0]
    state_img = Image.open(io.BytesIO(images[0][3]))
    assert state_img.size == Image.open(les.images[0]).size


# --------------------------------------------------------------- security
def test_refusals_are_refused_and_logged(tmp_path, demo_root):
    study = demo_study(tmp_path, demo_root)
    r1, r2 = study.readers
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        c = Client(base)

        def events():
            return [e[0] for e in state.refusals.recent]

        # a forged reader
        assert c.get('/r/not-a-reader-secret-at-all/')[0] == 404
        assert c.get('/r/not-a-reader-secret-at-all/s/unassisted')[0] == 404
        assert events().count('forged reader') == 2
        # path traversal on the image route (raw and percent-encoded)
        for bad in ('../../../../etc/passwd', '..%2F..%2F..%2Fetc%2Fpasswd',
                    '%2e%2e/%2e%2e/study.yaml', '..', 'reads.sqlite'):
            status, _, body = c.get(f'/r/{r1.secret}/img/{bad}')
            assert status == 404, bad
            assert b'root:' not in body and b'SQLite' not in body
        assert state.refusals.total == 2 + 5
        # another reader's image token
        _, _, html2 = c.get(f'/r/{r2.secret}/s/unassisted')
        img2 = image_urls(html2)[0]
        assert c.get(img2)[0] == 200
        assert c.get(img2.replace(r2.secret, r1.secret))[0] == 404
        assert events()[-1] == 'foreign image'
        # a read sent for another reader's lesion
        f2 = form_fields(html2)
        _, _, html1 = c.get(f'/r/{r1.secret}/s/unassisted')
        f1 = form_fields(html1)
        forged = dict(f2, csrf=f1['csrf'], diagnosis=0, confidence=3)
        assert c.post(f'/r/{r1.secret}/s/unassisted', forged)[0] == 400
        assert events()[-1] == 'foreign lesion'
        # a reader's own form sent to another reader's link
        assert c.post(f'/r/{r2.secret}/s/unassisted',
                      dict(f1, diagnosis=0, confidence=3))[0] == 403
        assert events()[-1] == 'csrf'
        # cross-site POSTs: no token, a foreign Origin, Sec-Fetch-Site
        good = dict(f1, diagnosis=0, confidence=3)
        assert c.post(f'/r/{r1.secret}/s/unassisted', dict(good,
                                                           csrf=''))[0] == 403
        for h in ({
                'Origin': 'http://evil.example'
        }, {
                'Sec-Fetch-Site': 'cross-site'
        }):
            assert c.post(f'/r/{r1.secret}/s/unassisted', good, h)[0] == 403
            assert events()[-1] == 'cross-site'
        assert state.store.all_reads() == []
        # the admin pages need the admin secret
        for url in ('/admin', '/admin/', '/admin/wrong-secret-xxxxxxxx/',
                    '/admin/wrong-secret-xxxxxxxx/export',
                    f'/admin/{r1.secret}/'):
            assert c.get(url)[0] == 403, url
            assert events()[-1] == 'admin'
        status, _, page = c.get(f'/admin/{study.admin_secret}/')
        assert status == 200
        for bad in ('..%2Freads.sqlite', '..%2F..%2Fstudy.yaml'):
            assert c.get(f'/admin/{study.admin_secret}/report/{bad}')[0] == 404
            assert events()[-1] == 'bad path'
        csrf = re.search(rb'name="csrf" value="(\w+)"', page).group(1)
        assert c.post(f'/admin/{study.admin_secret}/override',
                      dict(reader='E1', reason='x'))[0] == 403
        assert c.post(f'/admin/{study.admin_secret}/override',
                      dict(csrf=csrf.decode(), reader='E1', reason='x'),
                      {'Origin': 'http://evil.example'})[0] == 403
        assert state.store.overrides() == []
        # the same-origin POST goes through
        assert c.post(f'/r/{r1.secret}/s/unassisted', good,
                      {'Origin': base})[0] == 303
        assert len(state.store.all_reads()) == 1
        # no secret is written to the log
        log = json.dumps(list(state.refusals.recent))
        for secret in [study.admin_secret] + [r.secret for r in study.readers]:
            assert secret not in log
    server_default = __import__('inspect').signature(
        __import__('ecdl_mm.reader_app', fromlist=['make_server']).make_server)
    assert server_default.parameters['host'].default == '127.0.0.1'


# ------------------------------------------------------------------- load
def test_load_20_concurrent_readers(tmp_path, demo_root):
    readers = [(f'L{i:02d}', 'expert' if i % 2 else 'non-expert')
               for i in range(20)]
    study = demo_study(tmp_path, demo_root, readers=readers)
    n = len(study.lesions)
    latencies, errors = [], []
    lock = threading.Lock()

    def reader_thread(reader, base, app):
        c = Client(base)
        url = f'/r/{reader.secret}/s/unassisted'
        mine = []
        try:
            for k in range(n + 1):
                t0 = time.perf_counter()
                status, _, html = c.get(url)
                mine.append(time.perf_counter() - t0)
                if b'id="done"' in html:
                    break
                fields = form_fields(html)
                fields.update(diagnosis=k % 3, confidence=1 + k % 5)
                for _ in range(2 if k % 4 == 0 else 1):  # some resubmits
                    t0 = time.perf_counter()
                    status, _, _ = c.post(url, fields)
                    mine.append(time.perf_counter() - t0)
                    assert status == 303
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))
        with lock:
            latencies.extend(mine)

    with serving(study) as (base, app):
        threads = [
            threading.Thread(target=reader_thread, args=(r, base, app))
            for r in study.readers
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        wall = time.perf_counter() - t0
        assert not any(t.is_alive() for t in threads)
        store = app.extensions['reader_app'].store
        reads = store.all_reads()
    assert errors == []
    assert len(latencies) == 20 * (n + 1 + n + (n + 3) // 4)
    keys = [(r[0], r[1], r[2], r[3]) for r in reads]
    assert len(keys) == len(set(keys)) == 20 * n
    assert {k[:3]
            for k in keys} == {(r.reader_id, 'unassisted', les.lesion_id)
                               for r in study.readers
                               for les in study.lesions}
    rps = len(latencies) / wall
    p99 = float(np.percentile(latencies, 99)) * 1000
    report = dict(
        readers=20,
        lesions=n,
        requests=len(latencies),
        wall_s=round(wall, 2),
        requests_per_s=round(rps, 1),
        p50_ms=round(float(np.median(latencies)) * 1000, 1),
        p99_ms=round(p99, 1))
    print('reader_app load:', json.dumps(report))
    out = os.environ.get('READER_APP_LOAD_JSON')
    if out:
        with open(out, 'w') as f:
            json.dump(report, f)


# ------------------------------------------------------ SIGKILL, restart
def _start_server(study_path, port, repo_root):
    env = dict(os.environ, PYTHONPATH=repo_root, OMP_NUM_THREADS='1')
    proc = subprocess.Popen([
        sys.executable, 'tools/analysis/reader_app.py', '--study', study_path,
        '--port',
        str(port)
    ],
                            cwd=repo_root,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            text=True)
    lines = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put('')],
        daemon=True).start()
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if line.startswith('admin: '):
            return proc
    proc.kill()
    raise AssertionError(f'server did not start: {seen}')


def test_sigkill_mid_study_keeps_every_committed_read(tmp_path, demo_root,
                                                      repo_root, free_port):
    path = write_demo_study(str(tmp_path / 'study'), demo_root)
    study = load_study(path)
    port = int(free_port)
    acked = {}  # (reader, lesion token) -> answer; a 303 was received
    stop = threading.Event()

    def submitter(reader):
        c = Client(f'http://127.0.0.1:{port}', timeout=10)
        url = f'/r/{reader.secret}/s/unassisted'
        try:
            while not stop.is_set():
                status, _, html = c.get(url)
                fields = form_fields(html)
                if 'lesion' not in fields:
                    return
                fields.update(diagnosis=len(acked) % 3, confidence=4)
                if c.post(url, fields)[0] == 303:
                    acked[(reader.reader_id, fields['lesion'])] = (
                        fields['diagnosis'])
        except Exception:  # the server died under us
            return

    proc = _start_server(path, port, repo_root)
    try:
        threads = [
            threading.Thread(target=submitter, args=(r, ))
            for r in study.readers
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 15 and time.monotonic() < deadline:
            threads[0].join(timeout=0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-study, submits in flight
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 15 <= len(acked) < 2 * len(study.lesions)

    proc = _start_server(path, port, repo_root)
    try:
        c = Client(f'http://127.0.0.1:{port}')
        status, _, page = c.get(f'/admin/{study.admin_secret}/export')
        assert status == 200
    finally:
        proc.kill()
        proc.wait(timeout=10)
    rows = pd.read_csv(io.StringIO(page.decode()), dtype=str)
    # map lesion tokens back through a fresh app on the same db
    from ecdl_mm.reader_app import ReaderApp
    state = ReaderApp(load_study(path))
    got = {(r.reader_id, r.lesion_id): r.diagnosis for r in rows.itertuples()}
    for (rid, token), diag in acked.items():
        lid = study.lesions[state.lesion_of_token(rid, 'unassisted',
                                                  token)].lesion_id
        assert got[(rid, lid)] == CLASSES[int(diag)]
    # at most the one request in flight per reader was committed unacked
    assert len(acked) <= len(got) <= len(acked) + len(study.readers)
    assert len(got) == len(rows)


def test_admin_command_pastes_into_bash(tmp_path, demo_root):
    # issue 28: the title "... (demo lesions)" was unquoted: a bash syntax
    # error when the "same by hand" command was pasted
    import html
    import shlex
    study = demo_study(tmp_path, demo_root)
    assert '(' in study.title and ' ' in study.title
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        page = Client(base).get(f'/admin/{study.admin_secret}/')[2].decode()
    shown = html.unescape(
        re.search(r'The same by hand: <code>([^<]*)</code>', page).group(1))
    command = state.analysis_command()  # argv here, a string on main
    assert shlex.split(shown) == (
        shlex.split(command) if isinstance(command, str) else command)
    # bash parses it (syntax check only, nothing runs)
    proc = subprocess.run(['bash', '-n', '-c', shown],
                          capture_output=True,
                          text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
