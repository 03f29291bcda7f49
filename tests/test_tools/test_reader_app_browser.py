# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reader-study app in a real browser: headless Chromium from the
system's packages (``apt-get install chromium chromium-driver``, see
tools/install_browser.sh) driven by Selenium; nothing downloads a browser.

Two simulated readers do a full study of the demo lesions: the unassisted
session with a stop and resume, the wash-out refusal and the admin override,
the assisted session with the AI panel, then the export and the "run
analysis" button (tools/analysis/reader_study.py) and its report.
"""
import os
import os.path as osp
import shutil

import pytest
from helpers.reader_app_client import demo_study, serving

from ecdl_mm.evaluation.clinical import load_lesion_predictions, load_readers

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason='needs the system Chromium and chromedriver (bash '
    'tools/install_browser.sh: apt-get install chromium chromium-driver)')

CLASSES = ('adenomas', 'invasive_cancer', 'non-neoplastic')

# Replaces every gallery image by a grey octagon that says what it stands
# for (a canvas: the app's Content-Security-Policy refuses data: images).
PLACEHOLDER_JS = """
document.querySelectorAll('img').forEach(im => {
  const c = document.createElement('canvas');
  c.width = 224; c.height = 224;
  c.style.width = (im.clientWidth > 40 ? im.clientWidth : 224) + 'px';
  const g = c.getContext('2d');
  g.fillStyle = '#000'; g.fillRect(0, 0, 224, 224);
  g.fillStyle = '#8a8a8a'; g.beginPath();
  [[40, 0], [184, 0], [224, 40], [224, 184], [184, 224], [40, 224],
   [0, 184], [0, 40]].forEach(([x, y], i) => i ? g.lineTo(x, y)
                                               : g.moveTo(x, y));
  g.fill();
  g.fillStyle = '#fff'; g.font = '15px sans-serif'; g.textAlign = 'center';
  g.fillText('EC-NBI still shown here', 112, 104);
  g.fillText('(not committed)', 112, 126);
  im.replaceWith(c);
});
"""


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu',
                '--disable-dev-shm-usage', '--window-size=1100,900',
                '--no-first-run', '--disable-extensions',
                '--disable-background-networking',
                '--renderer-process-limit=2'):
        opts.add_argument(arg)
    opts.add_experimental_option(
        'prefs', {
            'download.default_directory': str(tmp_path / 'downloads'),
            'download.prompt_for_download': False,
        })
    driver = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(300)
    try:
        yield driver
    finally:
        driver.quit()


def planned(reader_id, session, position):
    h = sum(map(ord, f'{reader_id}{session}')) + 7 * position
    return h % 3, 1 + h % 5


def test_full_study_in_chromium(tmp_path, demo_root, browser, repo_root):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    study = demo_study(tmp_path, demo_root)
    n = len(study.lesions)
    wait = WebDriverWait(browser, 60)
    given = {}  # (reader, session, lesion token) -> (diag, conf)

    def css(sel):
        return browser.find_element(By.CSS_SELECTOR, sel)

    def go(sel):
        """Click what loads a new page and wait until it has."""
        page = css('html')
        css(sel).click()
        # mid-navigation, chromedriver may answer with an inspector error
        # instead of a stale element: keep waiting through it
        WebDriverWait(
            browser, 60, ignored_exceptions=(WebDriverException, )).until(
                EC.staleness_of(page))

    def answer(reader, session, position):
        diag, conf = planned(reader.reader_id, session, position)
        token = css('input[name=lesion]').get_attribute('value')
        css(f'#diagnosis input[value="{diag}"]').click()
        css(f'#confidence input[value="{conf}"]').click()
        go('#submit')
        given[(reader.reader_id, session, token)] = (diag, conf)

    def read_all(reader, session, start, stop_after=None):
        for position in range(start, n + 1):
            assert f'lesion {position} of {n}' in css('p').text
            imgs = browser.find_elements(By.CSS_SELECTOR, '#gallery img')
            assert imgs and all(
                browser.execute_script(
                    'return arguments[0].complete && '
                    'arguments[0].naturalWidth', i) == 1160 for i in imgs)
            answer(reader, session, position)
            if position == stop_after:
                return position
        assert css('#done')
        return n

    with serving(study) as (base, app):
        state = app.extensions['reader_app']
        for reader in study.readers:
            home = f'{base}/r/{reader.secret}/'
            browser.get(home)
            go('a.go')
            # zoom: the gallery opens an overlay, 4x is four times as wide
            css('#gallery a').click()
            assert css('#z1-1').is_displayed()
            css('#z1-1 nav a[href="#z4-1"]').click()
            z4 = css('#z4-1 img')
            assert z4.is_displayed()
            assert z4.size['width'] > 3 * browser.execute_script(
                'return window.innerWidth')
            css('#z4-1 nav a[href="#form"]').click()
            assert not css('#z4-1').is_displayed()
            # stop after 7, come back through the link, resume
            done = read_all(reader, 'unassisted', 1, stop_after=7)
            go('#stop')
            assert browser.current_url == home
            assert '7 / 20' in css('#sessions').text
            go('a.go')
            read_all(reader, 'unassisted', done + 1)
            browser.get(home)
            assert '(wash-out)' in css('#sessions').text
            browser.get(f'{base}/r/{reader.secret}/s/assisted')
            assert 'wash-out' in css('#message').text

        # the admin overrides the wash-out of both readers
        admin = f'{base}/admin/{study.admin_secret}/'
        for reader in study.readers:
            browser.get(admin)
            Select(css('#override select')).select_by_visible_text(
                reader.reader_id)
            css('#override input[name=reason]').send_keys('demo: no wait')
            go('#override button')
            assert reader.reader_id in css('#overrides').text

        for k, reader in enumerate(study.readers):
            browser.get(f'{base}/r/{reader.secret}/')
            go('a.go')
            assert css('#ai').is_displayed()
            assert css('#ai-class').text in [study.labels[c] for c in CLASSES]
            if k == 0:
                shot = tmp_path / 'reading.png'
                browser.save_screenshot(str(shot))
                assert shot.stat().st_size > 10000
                if os.environ.get('READER_APP_SCREENSHOT'):
                    # the README's copy: the demo stills are real patient
                    # images that the repository must not hold, so the
                    # gallery shows a drawn placeholder in their place
                    browser.execute_script(PLACEHOLDER_JS)
                    assert not browser.find_elements('css selector', 'img')
                    browser.save_screenshot(
                        os.environ['READER_APP_SCREENSHOT'])
                    browser.refresh()  # the page as served, for the reads
            read_all(reader, 'assisted', 1)

        # progress, export (a real download) and the analysis button
        browser.get(admin)
        assert css('#progress').text.count('20 / 20') == 4
        css('#export').click()
        download = tmp_path / 'downloads' / 'readers.csv'
        wait.until(lambda d: download.is_file() and download.stat().st_size)
        go('#analysis button')
        assert css('#flash').text.startswith('analysis done')
        go('#report')
        assert study.title in browser.title
        assert 'MRMC' in browser.page_source

    model = load_lesion_predictions(study.model.path)
    reads = load_readers(str(download), model)
    assert open(download).read() == open(state.export_path).read()
    assert reads.sessions == ['unassisted', 'assisted']
    for (rid, session, token), (diag, conf) in given.items():
        lid = study.lesions[state.lesion_of_token(rid, session,
                                                  token)].lesion_id
        s, r = reads.sessions.index(session), reads.readers.index(rid)
        li = reads.lesion_ids.index(lid)
        got = reads.diagnosis[s, r, li], reads.confidence[s, r, li]
        assert got == (diag, conf)
    assert len(given) == 2 * 2 * n
    assert osp.isfile(osp.join(state.analysis_dir, 'mrmc.csv'))
