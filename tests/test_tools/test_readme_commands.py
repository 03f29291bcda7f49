# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The README's shell blocks run as written (issue 17): the demo pipeline and
the worked example (a linear-head ablation trained on the pipeline's
encoder, model comparison, reader study with the simulated readers, lesion
report), with the README's epochs and threads and work dirs in tmp; the
figures the README states about them are checked against the run's JSON
(issue 28).

Every substitution made to the README's text is asserted to apply, so an
edit of the README that the test no longer follows fails here. The outputs
are then checked for their provenance (config and checkpoint hashes
recomputed with ``sha256sum``)."""
import json
import os.path as osp
import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest
from helpers.doc_blocks import DOCS, README, doc_block
from helpers.readme_figures import (check_ablation_sentence,
                                    check_comparison_table,
                                    check_pipeline_figures,
                                    check_reader_paragraph, section)

from ecdl_mm.evaluation.clinical import load_lesion_predictions

#: Threads of the README's runs (as tests/test_tools/conftest.py)
README_THREADS = '2'

#: The user guides that hold blocks the README's front door links to (issue
#: 27: the README became a front door over docs/).
CLINICAL = osp.join(DOCS, 'user_guides', 'clinical_studies.md')
SUBGROUPS = osp.join(DOCS, 'user_guides', 'subgroups.md')
PIPELINE = osp.join(DOCS, 'user_guides', 'pipeline.md')


def readme_block(starts_with):
    """The first ```bash block under the README heading ``starts_with``
    (``doc_block(GET_STARTED, ...)`` reads the getting-started page the
    same way)."""
    return doc_block(README, starts_with)


def sha256sum(path):
    out = subprocess.run(['sha256sum', str(path)],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    return out.split()[0]


def substitute(text, old, new):
    assert old in text, f'the README no longer has {old!r}:\n{text}'
    return text.replace(old, new)


def test_readme_demo_pipeline_command(demo_pipeline):
    # the fixture runs exactly the README's command (plus OUT and epochs)
    block = readme_block('## The main job')
    commands = [line.split('#')[0].strip() for line in block.splitlines()]
    assert [c for c in commands if c] == ['bash tools/run_pipeline.sh']
    out, proc = demo_pipeline
    assert proc.returncode == 0
    assert (out / 'lesion_eval' / 'lesion_predictions.csv').is_file()
    # the figures the section states, against this run's JSON
    with open(README, encoding='utf-8') as f:
        text = section(f.read(), '## The main job', '### ')
    check_pipeline_figures(
        text, json.loads((out / 'lesion_eval' / 'metrics.json').read_text()),
        json.loads((out / 'operating_point.json').read_text()))


def test_test_log_is_readable(demo_pipeline):
    # tools/test.py (step 4): each warning once, and the epoch line does not
    # dump LesionMetric's 160 values (its own table is in the log; all
    # values are in the JSON log)
    out, proc = demo_pipeline
    log = proc.stdout.split('] 4/5 ', 1)[1].split('] 5/5 ', 1)[0]
    # once per run: on the terminal in step 0 (test_run_pipeline.py), in the
    # test's own log file once
    assert log.count('patients were NOT checked for leakage') == 0
    [log_file] = (out / 'test').glob('*/*.log')
    assert log_file.read_text().count(
        'patients were NOT checked for leakage') == 1
    assert "'pin_memory' argument is set as true" not in log
    [line] = [
        x for x in log.splitlines() if 'Epoch(test)' in x and 'values in' in x
    ]
    [json_log] = (out / 'test').glob('*/*.json')
    assert '(image/*: ' in line and f'values in {json_log})' in line
    assert len(line) < 400
    assert 'accuracy/top1: ' in line  # small groups stay in the line
    logged = json.loads(json_log.read_text().splitlines()[-1])
    metrics = json.loads(
        (out / 'lesion_eval' / 'metrics.json').read_text())['metrics']
    scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
    assert len(scalars) > 100
    for key, value in scalars.items():
        assert logged[key] == pytest.approx(value, abs=1e-9), key


def test_subgroups_worked_example_runs_as_written(demo_pipeline, demo_root,
                                                  run_tool):
    """Issue 26: the SYNTHETIC-metadata example of the subgroups guide, on
    the main job's outputs, as written: the lesion table carries the
    metadata, and subgroups.json / both reports hold the tables, the forest
    plot, both PIVI checks and the flow."""
    out, _ = demo_pipeline
    block = doc_block(SUBGROUPS, '## Worked example on the demo')
    script = substitute(block, 'W=work_dirs/ecdl_demo_pipeline',
                        f'W={shlex.quote(str(out))}')
    script = substitute(script, 'DEMO=../shared/datasets/ecdl-demo',
                        f'DEMO={shlex.quote(demo_root)}')
    script = re.sub(r'^python ', '"$PY" ', script, flags=re.M)
    run_tool(['bash', '-euo', 'pipefail', '-c', script],
             env={'PY': sys.executable},
             timeout=900)
    lesion_eval = out / 'test_synthetic_meta' / 'lesion_eval'
    table = pd.read_csv(lesion_eval / 'lesion_predictions.csv')
    assert len(table) == 20
    assert table['lesion_id'].is_unique
    assert table['patient_id'].str.startswith('SYN-').all()
    sg = json.loads((out / 'subgroups' / 'subgroups.json').read_text())
    by = {g['column']: g for g in sg['groupings']}
    assert set(by) == {'size_mm', 'location', 'centre', 'morphology'}
    # every group's lesion count and accuracy against the CSV itself
    sizes = pd.cut(
        table['size_mm'], [0, 5.5, 9.5, 1e9], labels=['<=5', '6-9', '>=10'])
    for group in by['size_mm']['groups']:
        rows = table[sizes.astype(str) == group['group']]
        if not len(rows):
            continue
        acc = group['accuracy']
        assert acc['n'] == len(rows), group['group']
        uncertain = rows['uncertain'].astype(str) == 'True'
        pred = rows['cal_pred_label'] if 'cal_pred_label' in rows else \
            rows['pred_label']
        assert acc['k'] == int((pred == rows['gt_label']).sum()) or \
            acc['k'] == int(((pred == rows['gt_label']) & ~uncertain).sum())
    assert sg['meta_analysis']['centre']
    assert set(sg['pivi']) == {'diagnose_and_leave', 'resect_and_discard'}
    assert sg['flow']['predicted']['lesions'] == 20
    for name in ('report.html', 'flow.png', 'forest_accuracy.png'):
        assert (out / 'subgroups' / name).is_file(), name
    report = (lesion_eval / 'report.html').read_text()
    assert 'PIVI' in report and 'centre' in report
    # the lesion report's numbers also in its metrics.json
    metrics = json.loads((lesion_eval / 'metrics.json').read_text())
    assert {g['column']
            for g in metrics['subgroups']['groupings']} >= {'size_mm'}
    assert set(metrics['subgroups']['pivi']) == set(sg['pivi'])


def test_readme_worked_example_runs_as_written(demo_pipeline, demo_root,
                                               repo_root, run_tool):
    out, _ = demo_pipeline
    block = doc_block(CLINICAL, '**Worked example on `demo_test`**')
    # its first command is the demo pipeline, already run by the fixture
    first, rest = block.split('\n', 1)
    assert first.split('#')[0].strip() == 'bash tools/run_pipeline.sh'
    # the README's epochs (the fixture ran the pipeline as written)
    n = 30
    assert (out / 'ecmae' / 'epoch_20.pth').is_file()
    script = substitute(rest, 'W=work_dirs/ecdl_demo_pipeline',
                        f'W={shlex.quote(str(out))}')
    script = substitute(script, 'DEMO=../shared/datasets/ecdl-demo',
                        f'DEMO={shlex.quote(demo_root)}')
    # `python` of the activated venv is this interpreter
    script = substitute(script, 'source .venv/bin/activate\n', '')
    assert re.search(r'^python tools/', script, re.M)
    script = re.sub(r'^python ', '"$PY" ', script, flags=re.M)
    proc = run_tool(
        ['bash', '-euo', 'pipefail', '-c', script],
        env={
            'PY': sys.executable,
            'OMP_NUM_THREADS': README_THREADS,
            'MKL_NUM_THREADS': README_THREADS
        },
        timeout=1800)
    log = proc.stdout + proc.stderr
    assert 'Traceback' not in log

    W = out
    # the comparison and the reader study read the models' files
    comparison = json.loads((W / 'compare' / 'comparison.json').read_text())
    assert comparison['num_lesions'] == 20
    study = json.loads((W / 'reader_study' / 'reader_study.json').read_text())
    assert study['num_lesions'] == 20
    # every figure the README states about them, against the run's JSON
    with open(README, encoding='utf-8') as f:
        readme = f.read()
    with open(CLINICAL, encoding='utf-8') as f:
        text = section(f.read(), '**Worked example on `demo_test`**',
                       '## Reader-study web app')
    check_comparison_table(text, comparison)
    check_reader_paragraph(text, study)
    check_ablation_sentence(
        section(readme, '## The main job', '### '),
        json.loads(
            (W / 'ablation_eval' / 'metrics.json').read_text())['metrics'])
    assert (W / 'lesion_eval' / 'report.html').is_file()

    # provenance of the ablation test, recomputed independently
    abl_cfg = osp.join(repo_root, 'configs', 'ecdl',
                       'ecvit-tiny-p8_ecmae-pre_1xb8-30e_ecnbi-demo-64px.py')
    ckpt = W / 'ablation' / f'epoch_{n}.pth'
    metrics = json.loads((W / 'ablation_eval' / 'metrics.json').read_text())
    prov = metrics['provenance']
    assert prov['config'] == {'path': abl_cfg, 'sha256': sha256sum(abl_cfg)}
    assert prov['checkpoint'] == {
        'path': str(ckpt),
        'sha256_prefix': sha256sum(ckpt)[:16]
    }
    assert prov['data_root'] == osp.abspath(demo_root)
    assert prov['split_sheet'] == osp.join(
        osp.abspath(demo_root), 'dataset_divide.xlsx')
    assert prov['sheet_name'] == 'demo_test'
    import mmengine
    import mmpretrain
    import torch

    import ecdl_mm
    assert prov['versions'] == dict(
        ecdl_mm=ecdl_mm.__version__,
        mmpretrain=mmpretrain.__version__,
        mmengine=mmengine.__version__,
        torch=torch.__version__,
        python=sys.version.split()[0])
    argv = shlex.split(prov['command'])
    assert argv[1:3] == ['tools/test.py', abl_cfg.replace(repo_root + '/', '')]
    assert str(ckpt) in argv
    # the CSVs stay plain tables; their sidecars hold the same provenance
    for name in ('lesion_predictions.csv', 'image_predictions.csv'):
        assert json.loads((W / 'ablation_eval' /
                           f'{name}.provenance.json').read_text()) == prov
    assert len(pd.read_csv(W / 'ablation_eval' / 'image_predictions.csv')) \
        == 20
    assert len(
        load_lesion_predictions(
            str(W / 'ablation_eval' /
                'lesion_predictions.csv')).lesion_ids) == 20
    page = (W / 'ablation_eval' / 'report.html').read_text()
    assert 'id="provenance"' in page
    for text in (abl_cfg, prov['config']['sha256'], str(ckpt),
                 prov['checkpoint']['sha256_prefix'], 'demo_test'):
        assert text in page

    # the comparison records its inputs with their hashes and provenance
    inputs = comparison['provenance']['inputs']
    linear_csv = W / 'ablation_eval' / 'lesion_predictions.csv'
    assert inputs['linear']['path'] == str(linear_csv)
    assert inputs['linear']['sha256_prefix'] == sha256sum(linear_csv)[:16]
    assert inputs['linear']['provenance'] == prov
    ft_ckpt = W / 'finetune' / f'epoch_{n}.pth'
    assert inputs['clustering']['provenance']['checkpoint'][
        'sha256_prefix'] == sha256sum(ft_ckpt)[:16]
    cmp_page = (W / 'compare' / 'report.html').read_text()
    assert str(ft_ckpt) in cmp_page and str(ckpt) in cmp_page
    readers = study['provenance']['inputs']['readers']
    assert readers['sha256_prefix'] == sha256sum(
        osp.join(repo_root, 'tools', 'analysis', 'examples',
                 'readers_simulated_demo.csv'))[:16]
    # lesion_report.py shows the provenance of the run it reports on
    lesion_page = (W / 'lesion_eval' / 'report.html').read_text()
    assert str(ft_ckpt) in lesion_page


def test_readme_gradcam_script(demo_pipeline, demo_root, run_tool, tmp_path):
    import numpy as np
    from PIL import Image
    block = doc_block(PIPELINE, '### Grad-CAM')
    first = block.splitlines()[0].split('#')[0].strip()
    assert first == 'bash docs/gradcam_demo.sh'
    assert '--target-layers backbone.layers.3.ln1' in block
    out, _ = demo_pipeline
    [ckpt] = (out / 'finetune').glob('epoch_*.pth')
    cam = tmp_path / 'cam.png'
    proc = run_tool(['bash', 'docs/gradcam_demo.sh',
                     str(ckpt), '',
                     str(cam)],
                    env={
                        'ECDL_DEMO_ROOT': demo_root,
                        'PYTHON': sys.executable
                    })
    assert 'adenomas/730/Images/' in proc.stdout
    with Image.open(cam) as im:
        assert im.size == (64, 64)  # the model's input size
        pixels = np.asarray(im.convert('RGB'), dtype=float)
    assert pixels.std() > 10  # a heat map over the still, not a flat image


def test_simulated_readers_use_the_metric_lesion_ids(demo_root, repo_root):
    reads = pd.read_csv(
        osp.join(repo_root, 'tools', 'analysis', 'examples',
                 'readers_simulated_demo.csv'))
    sheet = pd.read_excel(
        osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name='demo_test')
    cohort = osp.basename(osp.realpath(demo_root))
    ids = {f'{cohort}/{x}' for x in sheet['lesion_index'].astype(str)}
    assert set(reads['lesion_id']) == ids
    assert reads['reader_id'].str.startswith('SIM-').all()


def test_readme_live_demo_runs_as_written(demo_pipeline, demo_root, tmp_path,
                                          run_tool):
    """The live demo block of the main-job section, on the fixture's demo
    model and operating point, with a 2-lesion video (the README's has 6)."""
    out, _ = demo_pipeline
    block = readme_block('### The live demo')
    [ft] = (out / 'finetune').glob('epoch_*.pth')
    script = substitute(block, 'work_dirs/live/demo.avi',
                        f'{tmp_path}/demo.avi')
    script = substitute(
        script, 'make_demo_video.py ' + f'{tmp_path}/demo.avi',
        'make_demo_video.py --num-lesions 2 '
        f'--demo-root {shlex.quote(demo_root)} '
        f'{tmp_path}/demo.avi')
    script = substitute(
        script, 'work_dirs/ecdl_demo_pipeline/finetune/'
        'epoch_30.pth', str(ft))
    script = substitute(script, 'work_dirs/ecdl_demo_pipeline/'
                        'operating_point.json',
                        str(out / 'operating_point.json'))
    script = substitute(script, 'work_dirs/live/', f'{tmp_path}/')
    assert re.search(r'^python tools/', script, re.M)
    script = re.sub(r'^python ', '"$PY" ', script, flags=re.M)
    proc = run_tool(['bash', '-euo', 'pipefail', '-c', script],
                    env={'PY': sys.executable})
    assert 'Traceback' not in proc.stdout + proc.stderr
    # every file the README names, and one lesion call per synthesized lesion
    for name in ('annotated.mp4', 'events.jsonl', 'lesions.csv'):
        assert (tmp_path / name).stat().st_size > 0, name
    labels = pd.read_csv(tmp_path / 'demo.labels.csv', dtype=str)
    lesions = load_lesion_predictions(str(tmp_path / 'lesions.csv'))
    assert len(lesions.lesion_ids) == len(labels) == 2
    events = [
        json.loads(line)
        for line in (tmp_path / 'events.jsonl').read_text().splitlines()
    ]
    frames = [e for e in events if e['type'] == 'frame']
    assert len(frames) == len(pd.read_csv(tmp_path / 'demo.frames.csv'))


def test_main_job_commands_write_under_work_dirs():
    # issue 28: `--out mae.png`, `--out-csv lesions.csv`, `--out
    # features.png` wrote into the repository root
    with open(README, encoding='utf-8') as f:
        text = f.read()
    section = text.split('## The main job', 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```bash\n(.*?)\n```', section, re.S)
    outs = [
        o for b in blocks
        for o in re.findall(r'--out(?:-csv|-json|-video|-lesions)? (\S+)',
                            b.replace('\\\n', ' '))
    ]
    assert {'work_dirs/features.png',
            'work_dirs/infer/lesions.csv'} <= set(outs), outs
    assert all(o.startswith('work_dirs/') for o in outs), outs
