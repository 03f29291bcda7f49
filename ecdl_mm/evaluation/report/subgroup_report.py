# Copyright (c) ecdl_mm contributors. All rights reserved.
"""HTML sections of the subgroup study
(:func:`ecdl_mm.evaluation.clinical.subgroup_study.run_subgroup_study`):
subgroup tables, per-centre forest plots, both PIVI checks and the flow
diagram. Used by ``tools/analysis/subgroups.py`` (cells keyed into
``subgroups.json``) and by the lesion report (no keys)."""
from typing import Optional

from .html import Cell, HtmlReport, figure_png

RATES = ('sensitivity', 'specificity', 'ppv', 'npv')


def _key(root, *path):
    return None if root is None else list(root) + list(path)


def entry_cell(e: dict, key: Optional[list]) -> Cell:
    """A ``{value, k, n, ci_lower, ci_upper}`` entry; a ``note`` (e.g. why
    it is undefined or why its interval has zero width) is shown after."""
    return Cell(
        e.get('value'),
        key=None if key is None else key + ['value'],
        ci=(e.get('ci_lower'), e.get('ci_upper')),
        ci_keys=None if key is None else
        (key + ['ci_lower'], key + ['ci_upper']),
        counts=(e['k'], e['n']) if 'k' in e else None)


def _p_cell(test: dict, key):
    return Cell(test['p_value'], 'p', key=_key(key, 'p_value'))


def add_subgroup_sections(rep: HtmlReport,
                          study: dict,
                          key_root: Optional[list] = None) -> None:
    """Append the subgroup, forest, PIVI and flow sections to ``rep``.

    Args:
        rep (HtmlReport): The report.
        study (dict): ``run_subgroup_study`` output.
        key_root (list, optional): JSON path of ``study`` in the file the
            report documents (``[]`` for ``subgroups.json``); None: no keys.
    """
    classes = study['classes']
    rep.section('Subgroups', 'subgroups')
    rep.text(
        'Lesion-level rates per group with Wilson intervals and k/n; '
        'macro AUC with a percentile lesion-bootstrap interval; '
        f"decisions: {study['settings']['decisions']}. Heterogeneity: "
        'chi-square test of homogeneity across groups.',
        note=True)
    for line in study['needs']:
        rep.text(line, note=True)
    for gi, t in enumerate(study['groupings']):
        gk = _key(key_root, 'groupings', gi)
        sel = 'selective' in (t['groups'][0] if t['groups'] else {})
        header = ['group', 'lesions', 'accuracy'
                  ] + (['coverage', 'selective accuracy']
                       if sel else []) + ['macro AUC', 'caveats']
        rows = []
        for i, g in enumerate(t['groups']):
            k = _key(gk, 'groups', i)
            auc = g['auc_macro']
            caveats = list(g['caveats'])
            if auc.get('note'):
                caveats.append('AUC: ' + auc['note'])
            row = [
                g['group'],
                Cell(g['n_lesions'], 'int'),
                entry_cell(g['accuracy'], _key(k, 'accuracy'))
            ]
            if sel:
                row += [
                    entry_cell(g['selective'][n], _key(k, 'selective', n))
                    for n in ('coverage', 'accuracy')
                ]
            row += [
                Cell(
                    auc['value'],
                    key=_key(k, 'auc_macro', 'value'),
                    ci=(auc['ci_lower'], auc['ci_upper'])), '; '.join(caveats)
            ]
            rows.append(row)
        rep.table(header, rows, f'subgroups_{gi}', caption=t['spec'])
        prows = []
        for i, g in enumerate(t['groups']):
            for c in classes:
                prows.append([g['group'], c] + [
                    entry_cell(g['per_class'][c][n],
                               _key(gk, 'groups', i, 'per_class', c, n))
                    for n in RATES
                ])
        rep.table(
            ['group', 'class'] + list(RATES),
            prows,
            f'subgroups_{gi}_per_class',
            caption=f"{t['spec']}: per class (one-vs-rest)")
        rep.table(['rate', 'chi-square', 'df', 'p', 'note'], [[
            name,
            Cell(
                h['statistic'],
                key=_key(gk, 'heterogeneity', name, 'statistic')),
            Cell(h['df'], 'int'),
            _p_cell(h, _key(gk, 'heterogeneity', name)),
            h.get('note', '')
        ] for name, h in t['heterogeneity'].items()],
                  f'subgroups_{gi}_heterogeneity',
                  caption=f"{t['spec']}: heterogeneity across groups")
    _forest_sections(rep, study, key_root)
    _pivi_section(rep, study, key_root)
    _flow_section(rep, study)


def _forest_sections(rep, study, key_root) -> None:
    from ..clinical.centres import forest_figure
    for spec, metas in study['meta_analysis'].items():
        rep.section(f'Per centre ({spec}): random-effects meta-analysis',
                    'centres')
        rows = []
        for name, m in metas.items():
            k = _key(key_root, 'meta_analysis', spec, name)
            if 'pooled' not in m:
                rows.append([name, m.get('note', ''), '', '', ''])
                continue
            p = m['pooled']
            rows.append([
                name,
                Cell(
                    p['value'],
                    key=_key(k, 'pooled', 'value'),
                    ci=(p['ci_lower'], p['ci_upper'])),
                Cell(m['i2'], key=_key(k, 'i2')),
                Cell(m['tau2'], key=_key(k, 'tau2')),
                Cell(m['q_p_value'], 'p', key=_key(k, 'q_p_value'))
            ])
        rep.table(
            [
                'rate', 'pooled (random effects)', 'I\u00b2', 'tau\u00b2',
                'Q test p'
            ],
            rows,
            'meta_analysis',
            caption='logit scale, Paule-Mandel tau\u00b2, back-transformed')
        acc = metas.get('accuracy', {})
        if 'pooled' in acc:
            rep.figure(
                figure_png(forest_figure(acc, 'Accuracy per centre')),
                'Accuracy per centre (logit-Wald intervals) and the '
                'random-effects pooled estimate (diamond).',
                width=560)


def _pivi_section(rep, study, key_root) -> None:
    pivi = study['pivi']
    rep.section('PIVI (ASGE thresholds, as defined)', 'pivi')
    dl = pivi['diagnose_and_leave']
    k = _key(key_root, 'pivi', 'diagnose_and_leave')
    rows = []
    if dl['assessable']:
        rows.append([
            dl['name'],
            entry_cell(dl, k), f"{dl['threshold']:.0%}",
            'yes' if dl['meets_threshold'] else 'no',
            'yes' if dl['lower_bound_meets'] else 'no'
        ])
        if dl.get('note'):
            rep.banner(dl['note'])
    else:
        rep.banner(dl['reason'])
    allr = dl['all_lesions']
    rows.append(
        [allr['name'],
         entry_cell(allr, _key(k, 'all_lesions')), '', '', ''])
    rd = pivi['resect_and_discard']
    rk = _key(key_root, 'pivi', 'resect_and_discard')
    if rd['assessable']:
        rows.append([
            f"{rd['name']} ({rd['guideline']}), patients",
            entry_cell(rd, rk), f"{rd['threshold']:.0%}",
            'yes' if rd['meets_threshold'] else 'no',
            'yes' if rd['lower_bound_meets'] else 'no'
        ])
    else:
        rep.banner(rd['reason'])
    rep.table([
        'measure', 'value', 'PIVI threshold', 'estimate meets',
        'lower bound meets'
    ], rows, 'pivi')
    if rd['assessable'] and rd['disagreements']:
        rep.table([
            'patient', 'interval (optical + histology)',
            'interval (histology)', 'lesions'
        ], [[
            d['patient_id'], d['optical'], d['histology'],
            Cell(d['lesions'], 'int')
        ] for d in rd['disagreements']],
                  'pivi_disagreements',
                  caption='patients whose surveillance interval differs')


def _flow_section(rep, study) -> None:
    from ..clinical.flow import flow_figure, flow_text
    rep.section('Study flow (STARD)', 'flow')
    rep.text(flow_text(study['flow']).replace('\n', '; '), note=True)
    rep.figure(
        figure_png(flow_figure(study['flow'])),
        'Lesions (and images) from the split sheet to the analysis.',
        width=520)


def _pivi_cells(p: dict, key) -> list:
    if not p.get('assessable', True):
        return [p['reason'], '', '']
    return [
        entry_cell(p, key), 'yes' if p['meets_threshold'] else 'no',
        'yes' if p['lower_bound_meets'] else 'no'
    ]


def add_reader_pivi_section(rep: HtmlReport,
                            pivi: dict,
                            key_root: Optional[list] = None) -> None:
    """The PIVI section of a reader study
    (:func:`ecdl_mm.evaluation.clinical.reader_pivi.reader_pivi`)."""
    rep.section('PIVI: model, readers, sessions', 'pivi')
    for line in pivi['needs']:
        rep.banner(line)
    rep.text(
        'Diagnose and leave: NPV for adenomatous histology of the '
        'non-neoplastic calls among diminutive (<= 5 mm) rectosigmoid '
        'lesions. Resect and discard: agreement of the per-patient '
        f"surveillance interval ({pivi['settings']['guideline']}). "
        'Threshold 90%; sessions pool every reader (cluster-adjusted Wilson '
        'interval).',
        note=True)
    header = [
        'who', 'session', 'check', 'value', 'estimate meets',
        'lower bound meets'
    ]
    rows = []
    checks = ('diagnose_and_leave', 'resect_and_discard')
    for c in checks:
        rows.append(['model', ''] + [c] +
                    _pivi_cells(pivi['model'][c], _key(key_root, 'model', c)))
    for i, s in enumerate(pivi['sessions']):
        for c in checks:
            if c in s:
                rows.append(
                    [f"all readers ({s['readers']})", s['session'], c] +
                    _pivi_cells(s[c], _key(key_root, 'sessions', i, c)))
    for i, r in enumerate(pivi['readers']):
        for c in checks:
            rows.append([f"{r['reader']} ({r['group']})", r['session'], c] +
                        _pivi_cells(r[c], _key(key_root, 'readers', i, c)))
    rep.table(header, rows, 'reader_pivi')


def add_lesion_subgroups(rep: HtmlReport,
                         csv_path: str,
                         ci_level: float = 0.95,
                         bootstrap_rounds: int = 1000) -> Optional[dict]:
    """The lesion report's subgroup sections: the full
    :func:`add_subgroup_sections` when ``lesion_predictions.csv`` has
    lesion metadata columns, else one note saying which analysis needs
    which column.

    Returns:
        dict | None: The subgroup study (as in ``subgroups.json``), None
        without metadata.
    """
    import pandas as pd

    from ..clinical.subgroup_study import (METADATA, missing_needs,
                                           run_subgroup_study)
    frame = pd.read_csv(csv_path, dtype=str, nrows=None)
    has = [
        c for c in METADATA
        if c in frame and frame[c].notna().any() and c != 'patient_id'
    ]
    if not has:
        rep.section('Subgroups, centres and PIVI', 'subgroups')
        for line in missing_needs(frame):
            rep.text(line, note=True)
        return None
    study = run_subgroup_study(
        csv_path, ci_level=ci_level, bootstrap_rounds=bootstrap_rounds)
    add_subgroup_sections(rep, study)
    return study
