# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader app's blinding and request hygiene, probed as a curious or
dishonest reader would (issue 24): metadata in the source images, a
predictable reading order, tokens that match across sessions, a stray static
route, forged log lines, refusals that fill the disk, loose forms, chunked
bodies, the ``Server`` header, a CSRF token that never changes, and the
"Run analysis" button without ``tools/`` on the path."""
import http.client
import io
import json
import logging
import os
import os.path as osp
import random
import re
import subprocess
import sys
from urllib.parse import urlencode

import numpy as np
import pytest
from helpers.reader_app_client import (Client, demo_study, form_fields,
                                       image_urls, serving, small_root,
                                       write_study)
from PIL import Image, ImageCms, PngImagePlugin

from ecdl_mm.reader_app import (ReaderApp, create_app, load_study,
                                simulated_predictions)

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')


def _segment(marker: int, payload: bytes) -> bytes:
    return b'\xff' + bytes([marker]) + (len(payload) + 2).to_bytes(
        2, 'big') + payload


def _secret(tag, path):
    return (f'PATIENT-ID=4711-{tag}; CLASS=adenomas; '
            f'FILE={osp.basename(path)}')


def _exif(text):
    exif = Image.Exif()
    exif[0x010E] = text  # ImageDescription
    exif[0x013B] = 'Dr Secret Examiner'  # Artist
    exif[0x0132] = '2019:03:04 10:11:12'  # DateTime
    return exif.tobytes()


def _icc(text):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB'))
    return profile.tobytes() + text.encode()


def _inject_jpeg(path, texts):
    """Every JPEG metadata segment, each carrying an identifying string."""
    data = open(path, 'rb').read()
    segs = [
        _segment(0xE1, _exif(texts['exif'])),
        _segment(
            0xE1, b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><dc:title>' +
            texts['xmp'].encode() + b'</dc:title></x:xmpmeta>'),
        _segment(0xE2, b'ICC_PROFILE\x00\x01\x01' + _icc(texts['icc'])),
        _segment(0xFE, texts['com'].encode()),
        _segment(0xED, b'Photoshop 3.0\x008BIM' + texts['app13'].encode()),
        _segment(0xEC, b'Ducky' + texts['app12'].encode()),
        _segment(0xEF, texts['app15'].encode()),
    ]
    with open(path, 'wb') as f:
        f.write(data[:2] + b''.join(segs) + data[2:])


def _inject_png(jpg, texts):
    """The image as a PNG with text, compressed text, international text,
    time, EXIF and ICC chunks; returns the new path."""
    info = PngImagePlugin.PngInfo()
    info.add_text('Patient', texts['text'])
    info.add_text('Comment', texts['ztxt'], zip=True)
    info.add_itxt('Description', texts['itxt'], lang='en', tkey='x')
    info.add(b'tIME', bytes([0x07, 0xE3, 3, 4, 10, 11, 12]))
    png = osp.splitext(jpg)[0] + '.png'
    with Image.open(jpg) as img:
        img.convert('RGB').save(
            png,
            pnginfo=info,
            icc_profile=_icc(texts['icc']),
            exif=_exif(texts['exif']))
    os.unlink(jpg)
    return png


def _read_all(client, app, reader, session):
    """Answer every lesion of ``session``; returns the pages' hidden fields
    and image URLs in the order served."""
    served = []
    url = f'/r/{reader.secret}/s/{session}'
    while True:
        status, _, html = client.get(url)
        assert status == 200
        if b'id="done"' in html:
            return served
        fields = form_fields(html)
        served.append((fields, image_urls(html)))
        fields = dict(fields, diagnosis=0, confidence=3)
        assert client.post(url, fields)[0] == 303


# ------------------------------------------------------- image metadata
def test_served_images_carry_pixels_only(tmp_path, demo_root):
    root, _ = small_root(tmp_path, demo_root, n=4, copy=True)
    sources = sorted(
        osp.join(d, f) for d, _, fs in os.walk(root) for f in fs
        if f.endswith('.jpg'))
    secrets = []
    png_paths = []
    for i, path in enumerate(sources):
        texts = {
            k: _secret(f'{k}-{i}', path)
            for k in ('exif', 'xmp', 'icc', 'com', 'app13', 'app12', 'app15',
                      'text', 'ztxt', 'itxt')
        }
        secrets += list(texts.values())
        if i % 2:
            png_paths.append(_inject_png(path, texts))
        else:
            _inject_jpeg(path, texts)
    # the sources do carry it all, as Pillow decodes them
    with Image.open(sources[0]) as img:
        assert 'PATIENT-ID' in img.info['comment'].decode()
        assert img.getexif()[0x0132] == '2019:03:04 10:11:12'
        assert 'icc_profile' in img.info and len(img.applist) >= 6
    with Image.open(png_paths[0]) as img:
        assert {'Patient', 'Comment', 'Description', 'icc_profile',
                'exif'} <= set(img.info)
    model = simulated_predictions(
        str(root / 'split.csv'), None, 'root', str(tmp_path / 'model.csv'))
    study = load_study(write_study(tmp_path, root, root / 'split.csv', model))
    assert any(p.endswith('.png') for les in study.lesions for p in les.images)
    served = []
    with serving(study) as (base, app):
        c = Client(base)
        for _, urls in _read_all(c, app, study.readers[0], 'unassisted'):
            for url in urls:
                status, headers, body = c.get(url)
                assert status == 200 and headers['Content-Type'] == (
                    'image/jpeg')
                served.append((url, body))
        state = app.extensions['reader_app']
    assert len(served) == len(sources)
    needles = [s.encode() for s in secrets] + [
        b'PATIENT', b'4711', b'2019:03:04', b'Secret Examiner', b'Exif',
        b'ICC_PROFILE', b'http://ns.adobe.com', b'Photoshop', b'Ducky',
        b'JFIF', b'adenomas'
    ] + [osp.basename(p).encode() for p in sources]
    leaks = [(url, needle) for url, body in served for needle in needles
             if needle in body]
    assert leaks == []
    for url, body in served:
        img = Image.open(io.BytesIO(body))
        assert img.info == {}, (url, img.info)
        assert dict(img.getexif()) == {}
        assert img.applist == []
        # the same picture: the served pixels are the source's pixels
        i, k = state.image_tokens['R1'][url.rsplit('/', 1)[1]]
        with Image.open(study.lesions[i].images[k]) as src:
            ref = np.asarray(src.convert('RGB'), dtype=float)
        assert img.size == (ref.shape[1], ref.shape[0])
        assert np.abs(np.asarray(img, dtype=float) - ref).mean() < 3


# ------------------------------------------------- orders and tokens
@pytest.fixture(scope='module')
def two_sessions(tmp_path_factory, demo_root):
    """A demo study whose first reader read both sessions over HTTP:
    ``(study, state, {session: [(form fields, image urls)]})``."""
    tmp = tmp_path_factory.mktemp('two_sessions')
    study = demo_study(tmp, demo_root)
    reader = study.readers[0]
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        state.store.override(reader.reader_id, 'assisted', 'test')
        c = Client(base)
        pages = {
            s: _read_all(c, app, reader, s)
            for s in ('unassisted', 'assisted')
        }
    return study, state, pages


def test_order_comes_from_the_study_secret(two_sessions, tmp_path):
    study, state, pages = two_sessions
    ids = [les.lesion_id for les in study.lesions]
    rid = study.readers[0].reader_id
    orders = {
        s: [ids[state.lesion_of_token(rid, s, f['lesion'])] for f, _ in p]
        for s, p in pages.items()
    }
    for session, order in orders.items():
        assert sorted(order) == sorted(ids)
        # what a reader knowing their id and the lesion list computes
        # (the old seeded formula, any small seed): never the served order
        for seed in range(1000):
            idx = list(range(len(ids)))
            random.Random(f'{seed}|{rid}|{session}').shuffle(idx)
            assert [ids[i] for i in idx] != order, seed
    # the same study file with another database (another secret salt):
    # another order for the same reader id, seed and lesions
    other = load_study(study.path)
    other.db_path = str(tmp_path / 'other.sqlite')
    assert [ids[i] for i in ReaderApp(other).order(rid, 'unassisted')
            ] != orders['unassisted']


def test_no_url_or_token_repeats_across_sessions(two_sessions):
    study, _, pages = two_sessions
    urls = {s: {u for _, us in p for u in us} for s, p in pages.items()}
    assert len(urls['unassisted']) == len(urls['assisted']) == sum(
        len(les.images) for les in study.lesions)
    assert not urls['unassisted'] & urls['assisted']
    lesions = {s: {f['lesion'] for f, _ in p} for s, p in pages.items()}
    assert len(lesions['unassisted']) == len(study.lesions)
    assert not lesions['unassisted'] & lesions['assisted']


# ---------------------------------------------------------- static route
def test_no_static_route_from_any_working_directory(tmp_path, demo_root,
                                                    monkeypatch):
    study = demo_study(tmp_path, demo_root)
    (tmp_path / 'static').mkdir()
    (tmp_path / 'static' / 'x.txt').write_text('server-side secret')
    monkeypatch.chdir(tmp_path)
    app = create_app(study)
    client = app.test_client()
    for path in ('/static/x.txt', '/static/../study/study.yaml'):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert b'server-side secret' not in resp.data
    assert 'static' not in {rule.endpoint for rule in app.url_map.iter_rules()}


# ------------------------------------------------- log lines, refusals
def test_request_data_in_the_log_is_escaped(tmp_path, demo_root, caplog):
    study = demo_study(tmp_path, demo_root)
    caplog.set_level(logging.INFO)
    with serving(study) as (base, app):
        c = Client(base)
        for path in ('/x%0aWARNING:%20forged%20line',
                     '/r/not-a-reader-secret-at-all%0d%0aERROR:%20forged/',
                     '/admin/x%E2%80%A8forged/'):
            assert c.get(path)[0] in (403, 404)
    lines = [r.getMessage() for r in caplog.records]
    refused = [m for m in lines if m.startswith('refused')]
    assert len(refused) == 3
    for m in lines:
        assert '\n' not in m and '\r' not in m and '\u2028' not in m, m
    assert '\\x0aWARNING: forged line' in refused[0]


def test_refusal_flood_writes_nothing_and_logs_a_bounded_number(
        tmp_path, demo_root, caplog):
    study = demo_study(tmp_path, demo_root)
    r1, r2 = study.readers
    caplog.set_level(logging.WARNING, logger='ecdl_mm.reader_app')
    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        c = Client(base)
        html2 = c.get(f'/r/{r2.secret}/s/unassisted')[2]
        foreign = image_urls(html2)[0].replace(r2.secret, r1.secret)
        db = state.store.path
        files = [db, db + '-wal']

        def size():
            return [osp.getsize(f) if osp.exists(f) else 0 for f in files]

        before = size()
        caplog.clear()
        bad = [
            lambda k: c.get(f'/nothing-{k}'),
            lambda k: c.get(f'/r/forged-reader-secret-{k:05d}/'),
            lambda k: c.get(f'/admin/wrong-admin-secret-{k}/'),
            lambda k: c.get(foreign),
            lambda k: c.post(f'/r/{r1.secret}/s/unassisted', dict(csrf='x')),
        ]
        for k in range(1000):
            assert bad[k % 5](k)[0] in (403, 404)
        assert size() == before
        assert state.refusals.total == 1000
        page = c.get(f'/admin/{study.admin_secret}/')[2].decode()
    logged = [r for r in caplog.records if 'refused' in r.getMessage()]
    assert 1 <= len(logged) <= state.refusals.limit
    assert 'forged reader 200' in page and 'csrf 200' in page


# ------------------------------------------------------------- forms
@pytest.fixture
def reading(tmp_path, demo_root):
    """A served demo study: ``(study, state, client, url of the first
    reader's unassisted session, a valid answer to its page)``."""
    study = demo_study(tmp_path, demo_root)
    url = f'/r/{study.readers[0].secret}/s/unassisted'
    with serving(study) as (base, app):
        c = Client(base)
        good = dict(form_fields(c.get(url)[2]), diagnosis='1', confidence='3')
        yield study, app.extensions['reader_app'], c, url, good


FORM = {'Content-Type': 'application/x-www-form-urlencoded'}


def test_forms_take_exactly_the_offered_values(reading):
    study, state, c, url, good = reading
    bad = [
        dict(diagnosis='-1'),
        dict(diagnosis='+1'),
        dict(diagnosis=' 2 '),
        dict(diagnosis='\uff12'),  # full-width 2
        dict(diagnosis='1.0'),
        dict(diagnosis='3'),
        dict(confidence='0'),
        dict(confidence='03'),
        dict(confidence='6'),
        dict(phase='first'),
        dict(lesion='0' * 24),
        dict(extra='1'),
    ]
    for change in bad:
        status, headers, body = c.post(url, dict(good, **change))
        assert status == 400, change
        reason = re.search(rb'id="message">([^<]*)<', body).group(1)
        assert reason.startswith(b'Bad request: ') and b'\n' not in reason
    # a field twice, or another content type
    twice = urlencode(list(good.items()) + [('diagnosis', '2')])
    assert c.request('POST', url, twice.encode(), FORM)[0] == 400
    assert c.request('POST', url,
                     json.dumps(good).encode(),
                     {'Content-Type': 'application/json'})[0] in (400, 403)
    assert state.store.all_reads() == []
    assert c.post(url, good)[0] == 303
    assert len(state.store.all_reads()) == 1


def test_body_over_the_limit_is_413_chunked_too(reading):
    study, state, c, url, good = reading
    big = urlencode(dict(good, pad='x' * 70000)).encode()
    assert c.request('POST', url, big, FORM)[0] == 413

    def chunked(body):
        conn = http.client.HTTPConnection(c.host, c.port, timeout=30)
        parts = (body[i:i + 4096] for i in range(0, len(body), 4096))
        try:
            conn.request('POST', url, parts, FORM, encode_chunked=True)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    assert chunked(big)[0] == 413
    assert state.store.all_reads() == []
    # a small chunked answer goes through
    assert chunked(urlencode(good).encode())[0] == 303
    assert len(state.store.all_reads()) == 1


def test_server_header_is_generic(reading):
    study, state, c, url, good = reading
    for resp in (c.get('/'), c.get(url), c.get('/nothing'),
                 c.get(image_urls(c.get(url)[2])[0]), c.post(url, good)):
        assert resp[1]['Server'] == 'reader-app'


def test_csrf_tokens_rotate_per_page_and_are_bound_to_the_reader(reading):
    study, state, c, url, good = reading
    page1, page2 = (form_fields(c.get(url)[2]) for _ in range(2))
    assert page1['csrf'] != page2['csrf']
    other = form_fields(c.get(f'/r/{study.readers[1].secret}/s/unassisted')[2])
    answer = dict(page2, diagnosis='0', confidence='2')
    assert c.post(url, dict(answer, csrf=other['csrf']))[0] == 403
    assert c.post(url, answer)[0] == 303
    # a token is valid for a while, then refused
    tok = state.csrf_tokens.make('reader|E1', now=0)
    assert state.csrf_tokens.check('reader|E1', tok, now=100) == ''
    assert 'expired' in state.csrf_tokens.check(
        'reader|E1', tok, now=13 * 3600)
    assert 'not issued' in state.csrf_tokens.check('reader|N1', tok, now=100)


# ---------------------------------------------------- analysis in-process
ANALYSIS_SCRIPT = r'''
import json, sys
from ecdl_mm.reader_app import (ReaderApp, load_study,
                                                    write_demo_study)
study = load_study(write_demo_study(sys.argv[1], sys.argv[2],
                                    bootstrap_rounds=100))
app = ReaderApp(study)
answers = json.loads(sys.argv[3])
for rid, session, lid, diag in answers:
    app.store.record(rid, session, lid, 'final', diag, 3)
ok, msg = app.run_analysis()
tools = [m for m, v in sys.modules.items() if m.split('.')[0] == 'tools' or
         '/tools/analysis/' in (getattr(v, '__file__', None) or '')]
print(json.dumps(dict(ok=ok, msg=msg, tools=tools, out=app.analysis_dir)))
'''


def test_analysis_runs_without_tools_on_the_path(tmp_path, demo_root,
                                                 repo_root):
    # the package alone (as a wheel installs it), no repository around it
    site = tmp_path / 'site'
    site.mkdir()
    os.symlink(osp.join(repo_root, 'ecdl_mm'), site / 'ecdl_mm')
    work = tmp_path / 'cwd'
    work.mkdir()
    study = demo_study(tmp_path, demo_root)
    rng = np.random.default_rng(0)
    answers, truth = [], {}
    for r in study.readers:
        for s in study.sessions:
            for les in study.lesions:
                diag = les.target if rng.random() < 0.7 else (les.target +
                                                              1) % 3
                answers.append((r.reader_id, s, les.lesion_id, CLASSES[diag]))
                truth.setdefault((r.reader_id, s),
                                 []).append(diag == les.target)
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-c', ANALYSIS_SCRIPT,
        str(work / 'study'), demo_root,
        json.dumps(answers)
    ],
                          cwd=work,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res['ok'], res['msg']
    assert res['tools'] == []
    assert osp.isfile(osp.join(res['out'], 'report.html'))
    results = json.load(open(osp.join(res['out'], 'reader_study.json')))
    got = {
        (r['reader'], r['session']): r['value']
        for r in results['reader_metrics'] if r['metric'] == 'accuracy'
    }
    assert got == pytest.approx(
        {
            k: float(np.mean(v))
            for k, v in truth.items()
        }, abs=1e-12)
