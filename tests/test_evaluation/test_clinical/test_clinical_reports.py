# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The CLIs of tools/analysis (run in-process) and their HTML reports: every
number a report shows equals the JSON the same run writes."""
import io
import json
import math
import os.path as osp
import re
import runpy
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from helpers.clinical import CLASSES, LESION_COLUMNS, make_study
from PIL import Image

from ecdl_mm.evaluation import LesionMetric
from ecdl_mm.evaluation.clinical import (compare_models, jsonable,
                                         load_lesion_predictions, load_readers,
                                         run_reader_study)
from ecdl_mm.evaluation.clinical.reader_pivi import reader_pivi
from ecdl_mm.evaluation.report import (auc_difference_figure, figure_png,
                                       reader_roc_figure)


def assert_same_png(path, png):
    """The file is the PNG of ``png`` (the figure drawn from the reference
    results), pixel for pixel."""
    with Image.open(path) as got, Image.open(io.BytesIO(png)) as want:
        assert got.format == 'PNG' and got.size == want.size
        assert np.array_equal(np.asarray(got), np.asarray(want))


REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


class Page(HTMLParser):
    """Tables (id -> keyed cells), tags and every src / href."""

    def __init__(self):
        super().__init__()
        self.tags, self.links, self.cells, self.tables = set(), [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == 'table':
            self.tables.append(attrs.get('id'))
        for name in ('src', 'href'):
            if name in attrs:
                self.links.append(attrs[name])
        if tag == 'td' and 'data-value' in attrs:
            self._cell = dict(attrs, text='', table=self.tables[-1])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell['text'] += data

    def handle_endtag(self, tag):
        if tag == 'td' and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def parse(path):
    page = Page()
    with open(path, encoding='utf-8') as f:
        page.feed(f.read())
    return page


def lookup(doc, key):
    for k in key:
        doc = doc[k]
    return doc


def check_shown(text, value):
    """The text shows ``value`` (None = NaN) rounded as displayed."""
    if value is None:
        assert text == '\u2013'
    elif text == '<0.001':
        assert value < 0.001
    else:
        decimals = len(text.split('.')[1]) if '.' in text else 0
        assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-12, (text,
                                                                         value)


def check_page_against_json(page, doc, tables):
    """Every keyed cell equals the JSON; returns the number checked."""
    assert set(tables) <= set(page.tables), set(tables) - set(page.tables)
    checked = 0
    for cell in page.cells:
        if 'data-key' not in cell:
            continue
        value = lookup(doc, json.loads(cell['data-key']))
        shown = cell['data-value']
        if value is None:
            assert shown == 'nan'
        else:
            assert float(shown) == value, (cell, value)
        parts = re.fullmatch(r'(\S+)(?: \((\S+) to (\S+)\))?(?: (\d+)/(\d+))?',
                             cell['text'].strip())
        assert parts, cell['text']
        if parts.group(4) is not None:  # k/n of a proportion
            assert (parts.group(4), parts.group(5)) == (cell['data-k'],
                                                        cell['data-n'])
        check_shown(parts.group(1), value)
        if 'data-ci-lower-key' in cell:
            for attr, group in (('lower', 2), ('upper', 3)):
                bound = lookup(doc, json.loads(cell[f'data-ci-{attr}-key']))
                check_shown(parts.group(group), bound)
                if bound is not None:
                    assert float(cell[f'data-ci-{attr}']) == bound
        checked += 1
    return checked


def assert_offline(page):
    assert not page.tags & {'script', 'link', 'iframe', 'object'}
    assert page.links and all(
        link.startswith(('data:image/png;base64,', 'data:image/jpeg;base64,',
                         '#')) for link in page.links), page.links


def run_cli(monkeypatch, script, *args):
    monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
    runpy.run_path(osp.join(REPO, script), run_name='__main__')


def test_lesion_report_of_a_lesion_metric_out_dir(tmp_path, monkeypatch,
                                                  capsys):
    rng = np.random.default_rng(4)
    out_dir = tmp_path / 'lesion_eval'
    results = []
    for i in range(18):
        label = i % 3
        for j in range(1 + i % 2):
            path = tmp_path / f'L{i}_{j}.jpg'
            if i != 5:  # lesion 5's image is missing on disk
                Image.fromarray(
                    rng.integers(0, 255, (40, 50, 3),
                                 dtype=np.uint8)).save(path)
            logits = rng.normal(size=3) + 1.0 * np.eye(3)[label]
            results.append(
                dict(
                    score=np.exp(logits) / np.exp(logits).sum(),
                    gt_label=label,
                    lesion_id=f'L{i}',
                    patient_id=f'P{i}',
                    img_path=str(path)))
    LesionMetric(
        bootstrap_rounds=30, out_dir=str(out_dir),
        classes=CLASSES).compute_metrics(results)
    lesions = pd.read_csv(out_dir / 'lesion_predictions.csv')
    # the synthetic files of the other tests have exactly these columns
    assert list(lesions.columns) == LESION_COLUMNS

    run_cli(monkeypatch, 'tools/analysis/lesion_report.py', out_dir,
            '--max-gallery', 20)
    page = parse(out_dir / 'report.html')
    assert_offline(page)
    doc = json.load(open(out_dir / 'metrics.json'))
    n = check_page_against_json(page, doc, [
        'summary', 'per_class_lesion', 'per_class_image', 'confusion_lesion',
        'confusion_image'
    ])
    # 8 summary x 2 levels + 2 x 3 classes x 6 rates + 2 x 9 + 2 counts
    # + calibration 4 x 2 levels + decision table 3 actions x 3 classes
    # + leave NPV + invasive-cancer miss rate
    assert n == 16 + 36 + 18 + 2 + 8 + 9 + 2
    # k/n beside every proportion, equal to metrics.json's counts and to a
    # recount from the lesion CSV
    shown = {
        json.loads(c['data-key'])[1]: (int(c['data-k']), int(c['data-n']))
        for c in page.cells
        if 'data-k' in c and c['table'] in ('per_class_lesion',
                                            'per_class_image', 'summary')
    }
    assert len(shown) == 2 * (1 + 3 * 4)
    for key, (k, n_) in shown.items():
        assert (doc['counts'][key]['k'], doc['counts'][key]['n']) == (k, n_)
    pos = lesions.gt_label == 2
    assert shown['lesion/sensitivity_non-neoplastic'] == (int(
        (lesions.pred_label[pos] == 2).sum()), int(pos.sum()))
    wrong = lesions[lesions.pred_label != lesions.gt_label]
    thumbs = [x for x in page.links if x.startswith('data:image/jpeg')]
    expected = sum(1 + int(lid[1:]) % 2 for lid in wrong.lesion_id
                   if lid != 'L5')
    assert len(thumbs) == expected
    html = open(out_dir / 'report.html').read()
    assert (f'{len(wrong)} of 18 lesions are misclassified' in html)
    if 'L5' in set(wrong.lesion_id):
        assert 'image not readable' in html

    # a folder LesionMetric did not write: one line naming the file, exit 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(monkeypatch, 'tools/analysis/lesion_report.py', tmp_path)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f'lesion_report.py: error: {tmp_path}/metrics.json '
                          'not found') and err.count('\n') == 1


def test_compare_models_cli(three_models, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'cmp'
    run_cli(monkeypatch, 'tools/analysis/compare_models.py', *three_models,
            '--names', 'A', 'B', 'C', '--out-dir', out, '--bootstrap-rounds',
            100)
    doc = json.load(open(out / 'comparison.json'))
    ref = compare_models([load_lesion_predictions(f) for f in three_models],
                         ['A', 'B', 'C'],
                         bootstrap_rounds=100)
    # the tool adds where the results came from: its inputs
    prov = doc.pop('provenance')
    assert [v['path'] for v in prov['inputs'].values()
            ] == [osp.abspath(str(f)) for f in three_models]
    assert list(prov['inputs']) == ['A', 'B', 'C']
    assert doc == jsonable(ref)
    assert len(pd.read_csv(out / 'comparison.csv')) == 33
    assert_same_png(out / 'auc_differences.png',
                    figure_png(auc_difference_figure(ref)))
    page = parse(out / 'report.html')
    assert_offline(page)
    assert check_page_against_json(
        page, doc, ['model_metrics', 'comparisons', 'class_counts']) == (
            3 * 11 + 33 * 5 + 3)  # a, b, a - b, p, p Holm per comparison
    assert 'p_holm' in pd.read_csv(out / 'comparison.csv')
    assert 'A - B' in capsys.readouterr().out

    short = pd.read_csv(three_models[1]).iloc[:-3]
    short.to_csv(tmp_path / 'short.csv', index=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(monkeypatch, 'tools/analysis/compare_models.py',
                three_models[0], tmp_path / 'short.csv', '--out-dir', out)
    assert exc.value.code == 2  # a user mistake, as for every tools/ script
    msg = capsys.readouterr().err
    assert msg.startswith('compare_models.py: error: ')
    assert msg.count('\n') == 1 and msg.endswith(
        '(--debug shows the traceback)\n')
    assert "lacks 3 lesion(s) of" in msg and "'L057', 'L058', 'L059'" in msg


def test_reader_study_cli(tmp_path, monkeypatch, capsys):
    model_csv, readers_csv, df, _ = make_study(tmp_path)
    out = tmp_path / 'rs'
    run_cli(monkeypatch, 'tools/analysis/reader_study.py', '--model',
            model_csv, '--readers', readers_csv, '--out-dir', out,
            '--bootstrap-rounds', 50, '--note', 'SIMULATED readers')
    doc = json.load(open(out / 'reader_study.json'))
    model = load_lesion_predictions(model_csv)
    reads = load_readers(readers_csv, model)
    ref = run_reader_study(model, reads, bootstrap_rounds=50)
    prov = doc.pop('provenance')
    assert prov['inputs']['readers']['path'] == osp.abspath(str(readers_csv))
    assert prov['inputs']['model']['path'] == osp.abspath(str(model_csv))
    # without size_mm / location the PIVI checks say what they need
    pivi = doc.pop('pivi')
    assert pivi == jsonable(reader_pivi(model, reads))
    assert not pivi['model']['diagnose_and_leave']['assessable']
    assert doc == jsonable(ref)
    for name in ('reader_metrics', 'group_metrics', 'model_vs_readers',
                 'session_comparison', 'mrmc'):
        assert len(pd.read_csv(out / f'{name}.csv')) == len(doc[name])
    assert_same_png(out / 'roc_readers.png',
                    figure_png(reader_roc_figure(ref, model, reads)))
    page = parse(out / 'report.html')
    assert_offline(page)
    n = check_page_against_json(page, doc, [
        'summary_accuracy', 'summary_mrmc', 'model', 'reader_metrics',
        'group_metrics', 'model_vs_readers', 'session_comparison', 'mrmc',
        'fleiss', 'cohen_0', 'cohen_1'
    ])
    ran = [r for r in doc['mrmc'] if 'error' not in r]
    assert n == (
        4 * sum(r['versus'] == 'group' and r['metric'] == 'accuracy'
                for r in doc['model_vs_readers']) +  # summary
        4 * sum(r['fom'] == 'accuracy' for r in ran) +  # summary
        1 + len(doc['class_counts']) +  # inputs
        len(doc['model']) + len(doc['reader_metrics']) +
        len(doc['group_metrics']) + 4 * len(doc['model_vs_readers']) +
        4 * len(doc['session_comparison']) + 7 * len(ran) + sum(
            len(a['fleiss']) + len(a['cohen_names'])**2
            for a in doc['agreement']))
    assert 'SIMULATED readers' in open(out / 'report.html').read()
    mrmc_shown = [
        c for c in page.cells if c['table'] == 'mrmc' and 'data-key' in c
    ]
    assert len(mrmc_shown) == 7 * sum('error' not in r for r in doc['mrmc'])
    assert not any(
        math.isnan(r['p_value']) for r in doc['mrmc'] if 'error' not in r)

    bad = df.copy()
    bad.loc[0, 'diagnosis'] = 'polyp'
    bad.to_csv(tmp_path / 'bad.csv', index=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(monkeypatch, 'tools/analysis/reader_study.py', '--model',
                model_csv, '--readers', tmp_path / 'bad.csv', '--out-dir', out)
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"reader_study.py: error: {tmp_path / 'bad.csv'} line 2: unknown "
        "class name 'polyp' in diagnosis (classes: adenomas, "
        'invasive_cancer, non-neoplastic) (--debug shows the traceback)\n')
