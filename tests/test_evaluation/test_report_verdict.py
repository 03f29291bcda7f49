# Copyright (c) ecdl_mm contributors. All rights reserved.
"""report.html of a LesionMetric out_dir opens with a one-line verdict (and,
on a small test set, the caveat that it decides nothing), words its
operating point correctly and fits a 1280 px wide window (headless
Chromium, when the system has it)."""
import os.path as osp
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers.clinical import CLASSES
from sklearn.metrics import accuracy_score
from statsmodels.stats.proportion import proportion_confint

from ecdl_mm.evaluation import LesionMetric
from ecdl_mm.evaluation.operating_point import OperatingPoint
from ecdl_mm.evaluation.report import write_lesion_report


def make_out_dir(tmp_path, num_lesions, min_images=1, signal=1.0, seed=0):
    """A LesionMetric out_dir of synthetic lesions (1-2 images each) tested
    with an operating point."""
    rng = np.random.default_rng(seed)
    op = str(tmp_path / 'op.json')
    OperatingPoint(
        classes=list(CLASSES), min_confidence=0.5,
        min_images=min_images).save(op)
    results = []
    for i in range(num_lesions):
        label = i % 3
        for j in range(1 + i % 2):
            logits = rng.normal(size=3) + signal * np.eye(3)[label]
            results.append(
                dict(
                    score=np.exp(logits) / np.exp(logits).sum(),
                    gt_label=label,
                    lesion_id=f'L{i}',
                    patient_id=f'P{i}',
                    img_path=str(tmp_path / f'L{i}_{j}.jpg')))
    out = tmp_path / 'lesion_eval'
    LesionMetric(
        bootstrap_rounds=20,
        out_dir=str(out),
        classes=CLASSES,
        operating_point=op).compute_metrics(results)
    return out, write_lesion_report(str(out))


@pytest.fixture(scope='module')
def small_report(tmp_path_factory):
    """``(out_dir, report.html)`` of 20 lesions (as the demo's test set)."""
    return make_out_dir(tmp_path_factory.mktemp('small'), 20)


def lead(html, anchor):
    m = re.search(rf'<p class="\w+" id="{anchor}">([^<]*)</p>', html)
    return m and m.group(1).replace('&#x27;', "'")


def test_small_test_set_opens_with_verdict_and_caveat(small_report):
    out, path = small_report
    html = open(path, encoding='utf-8').read()
    main = html[html.index('<main>') + len('<main>'):]
    assert main.startswith('<p class="lead" id="verdict">Verdict: ')
    lesions = pd.read_csv(out / 'lesion_predictions.csv')
    k = int((lesions.pred_label == lesions.gt_label).sum())
    acc = accuracy_score(lesions.gt_label, lesions.pred_label)
    lo, hi = proportion_confint(k, 20, alpha=0.05, method='wilson')
    verdict = lead(html, 'verdict')
    assert verdict.startswith(f'Verdict: lesion accuracy {acc:.3f} (95% CI '
                              f'{lo:.3f} to {hi:.3f}, {k}/20); macro AUC ')
    caveat = lead(html, 'caveat')
    assert caveat == (f'Caveat: 20 test lesions decide nothing: the 95% CI '
                      f'of the lesion accuracy is {hi - lo:.2f} wide '
                      f'({lo:.2f} to {hi:.2f}); read every figure below '
                      'with its interval.')
    assert main.index('id="caveat"') < main.index('<nav>')
    # the operating point in words: no "fewer than 1 image(s)"
    assert 'a lesion is uncertain below confidence 0.500. Fitted' in html
    assert 'image(s)' not in html.split('id="gallery"')[0]


def test_large_test_set_has_no_caveat_and_min_images_is_worded(tmp_path):
    _, path = make_out_dir(tmp_path, 150, min_images=2, signal=3.0)
    html = open(path, encoding='utf-8').read()
    assert lead(html, 'verdict').startswith('Verdict: lesion accuracy ')
    assert lead(html, 'caveat') is None
    assert ('a lesion is uncertain below confidence 0.500 or when seen in '
            'fewer than 2 images.') in html


CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason='needs the system Chromium and chromedriver (bash '
    'tools/install_browser.sh)')
def test_report_fits_a_1280_px_window(small_report, tmp_path):
    # issue 28: the per-class table (value, interval and k/n in each of 6
    # columns, unbreakable) overflowed at 1280 px
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    _, path = small_report
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--window-size=1280,900',
                '--no-first-run', '--disable-extensions',
                '--disable-background-networking',
                '--renderer-process-limit=2'):
        opts.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(120)
        driver.get('file://' + osp.abspath(path))
        width = driver.execute_script('return window.innerWidth')
        assert width <= 1280
        assert driver.execute_script(
            'return document.documentElement.scrollWidth') <= width
        for table in ('per_class_lesion', 'per_class_image', 'summary'):
            box = driver.execute_script(
                'const d = document.getElementById(arguments[0])'
                '.parentElement; return [d.scrollWidth, d.clientWidth];',
                table)
            assert box[0] <= box[1], (table, box)
        shot = tmp_path / 'report_1280.png'
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    with Image.open(shot) as im:
        assert im.size[0] == width
