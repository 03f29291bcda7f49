# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Helpers of the reader-app tests: a study of the demo lesions, a live
server on a free loopback port and a plain HTTP client (http.client, no
redirects followed, so every status is seen)."""
import contextlib
import http.client
import os
import os.path as osp
import re
import shutil
import threading
from urllib.parse import urlencode, urlparse

from ecdl_mm.reader_app import (create_app, load_study, make_server,
                                write_demo_study)


def demo_study(tmp_path, demo_root, name='study', **kw):
    kw.setdefault('bootstrap_rounds', 200)
    return load_study(write_demo_study(str(tmp_path / name), demo_root, **kw))


def small_root(tmp_path, demo_root, n=3, copy=False):
    """A data_root of the first ``n`` demo lesions (images symlinked, or
    copied with ``copy=True``) with a CSV split sheet; returns (root, sheet
    as a DataFrame)."""
    import pandas as pd
    sheet = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name='demo_test')
    sheet = sheet.iloc[:n]
    root = tmp_path / 'root'
    for cls, idx in zip(sheet['class_english'], sheet['lesion_index']):
        src = osp.join(demo_root, cls, str(idx), 'Images')
        dst = root / cls / str(idx) / 'Images'
        dst.mkdir(parents=True)
        for f in os.listdir(src):
            if copy:
                shutil.copyfile(osp.join(src, f), dst / f)
            else:
                os.symlink(osp.join(src, f), dst / f)
    sheet[['class_index', 'class_english', 'lesion_index']].to_csv(
        root / 'split.csv', index=False)
    return root, sheet


def write_study(tmp_path, root, sheet_csv, model_csv, name='s.yaml'):
    """A study YAML of one reader R1 (secret ``'r' * 24``); its path."""
    import yaml
    cfg = dict(
        admin_secret='a' * 24,
        lesions=dict(data_root=str(root), split=str(sheet_csv)),
        model=dict(predictions=str(model_csv)),
        readers=[dict(id='R1', group='g', secret='r' * 24)])
    with open(tmp_path / name, 'w') as f:
        yaml.safe_dump(cfg, f)
    return str(tmp_path / name)


@contextlib.contextmanager
def serving(study, **kw):
    """Serve ``study`` on 127.0.0.1:<free port> in a thread; yields
    ``(base_url, app)``."""
    app = create_app(study, **kw)
    server = make_server(app, '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_port}', app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class Client:
    """One keep-alive connection to the app."""

    def __init__(self, base, timeout=30):
        url = urlparse(base)
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader('Connection', '').lower() == 'close':
                    self.close()
                return resp.status, dict(resp.getheaders()), data
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError('unreachable')

    def get(self, path, headers=None):
        return self.request('GET', path, headers=headers)

    def post(self, path, fields, headers=None):
        headers = dict(headers or {})
        headers['Content-Type'] = 'application/x-www-form-urlencoded'
        return self.request('POST', path, urlencode(fields).encode(), headers)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def form_fields(html: bytes) -> dict:
    """The hidden fields of the reading form (csrf, lesion, phase)."""
    text = html.decode()
    return dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', text))


def image_urls(html: bytes):
    return sorted(
        set(re.findall(r'src="(/r/[^"]+/img/[^"]+)"', html.decode())))
