# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A user's own cohort through the demo recipe in one step (issue 28,
finding 4): ``tools/run_pipeline.sh --data-root DIR --train-sheet A.csv
--test-sheet B.csv`` on a cohort made here from the demo images (linked into
a folder of the user's with lesion ids of their own and two CSV sheets)."""
import json
import os
import os.path as osp

import pandas as pd

README = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'README.md')


def _readme_command():
    """The shell block under ``### Your own cohort``, lines joined."""
    text = open(README, encoding='utf-8').read()
    block = text.split('### Your own cohort', 1)[1].split('```bash\n', 1)[1]
    return block.split('```', 1)[0].replace('\\\n', ' ').split()


def _make_cohort(demo_root, root):
    """``root/<class>/P<lesion>/Images/*`` linked to the demo images, and
    ``train.csv`` / ``test.csv`` from the demo sheets; the sheets."""
    sheets = {}
    for split, name in (('demo_train', 'train.csv'), ('demo_test',
                                                      'test.csv')):
        df = pd.read_excel(
            osp.join(demo_root, 'dataset_divide.xlsx'),
            sheet_name=split,
            dtype=str)
        for _, row in df.iterrows():
            src = osp.join(demo_root, row['class_english'],
                           row['lesion_index'], 'Images')
            dst = root / row['class_english'] / f"P{row['lesion_index']}"
            dst.mkdir(parents=True)
            os.symlink(src, dst / 'Images')
        df['lesion_index'] = 'P' + df['lesion_index']
        df[['class_index', 'class_english', 'lesion_index']].to_csv(
            root / name, index=False)
        sheets[name] = df
    return sheets


def test_own_cohort_in_one_step(run_tool, repo_root, demo_root, tmp_path):
    cohort = tmp_path / 'mycohort'
    sheets = _make_cohort(demo_root, cohort)
    out = tmp_path / 'out'
    script = osp.join(repo_root, 'tools', 'run_pipeline.sh')
    # the README's command; run from the user's folder, the sheets' paths
    # relative to it
    argv = _readme_command()
    assert argv[:2] == ['bash', 'tools/run_pipeline.sh']
    argv = [script] + [
        str(out) if a == 'work_dirs/my_cohort' else a.replace(
            '/data/my_cohort', 'mycohort') for a in argv[2:]
    ]
    assert argv[1:] == [
        str(out), '--data-root', 'mycohort', '--train-sheet',
        'mycohort/train.csv', '--test-sheet', 'mycohort/test.csv'
    ]
    proc = run_tool(
        ['bash'] + argv,
        cwd=str(tmp_path),
        env={
            'MAE_EPOCHS': '1',
            'FT_EPOCHS': '1'
        },
        timeout=1200)
    log = proc.stdout + proc.stderr
    assert 'carved out of train.csv' in log

    # the validation split is carved out of the training sheet only
    splits = pd.read_excel(out / 'splits.xlsx', sheet_name=None, dtype=str)
    carved = set(splits['train']['lesion_index']) | set(
        splits['val']['lesion_index'])
    assert carved == set(sheets['train.csv']['lesion_index'])
    assert len(splits['val']) == 5

    # the test sheet's lesions, with the cohort's own ids, and nothing else
    lesions = pd.read_csv(
        out / 'lesion_eval' / 'lesion_predictions.csv', dtype=str)
    assert set(lesions['lesion_id']) == {
        f'mycohort/{x}'
        for x in sheets['test.csv']['lesion_index']
    }
    truth = dict(
        zip('mycohort/' + sheets['test.csv']['lesion_index'],
            sheets['test.csv']['class_english']))
    assert [truth[i]
            for i in lesions['lesion_id']] == list(lesions['gt_class'])
    prov = json.loads(
        (out / 'lesion_eval' / 'metrics.json').read_text())['provenance']
    assert prov['split_sheet'] == str(cohort / 'test.csv')
    assert prov['data_root'] == str(cohort)
    # the caveat counts this run's lesions
    assert 'caveat: 20 test lesions (5 validation lesions)' in proc.stdout


def test_own_cohort_needs_all_three_options(run_tool, tmp_path):
    proc = run_tool([
        'bash', 'tools/run_pipeline.sh',
        str(tmp_path), '--train-sheet', 'a.csv'
    ],
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        'run_pipeline.sh: your own cohort needs all of --data-root DIR '
        '--train-sheet A.csv --test-sheet B.csv')
