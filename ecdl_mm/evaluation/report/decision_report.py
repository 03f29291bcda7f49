# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The clinical decision table section of the lesion report."""
from .html import Cell
from .subgroup_report import entry_cell


def decision_section(rep, table, classes, with_op) -> None:
    """The clinical decision table and the NPV of the confident "leave in
    situ" calls (``metrics.json`` ``decisions``)."""
    rep.section('Clinical decision table', 'decisions')
    actions = table['actions']
    rep.text(
        'Actions: ' + '; '.join(f'{c} \u2192 {a}'
                                for c, a in actions.items()) +
        ('. Uncertain lesions are deferred (no optical diagnosis).'
         if with_op else '.') +
        ' Each cell: lesions given the action (row) among lesions of '
        'the true class (column), rate with Wilson interval.',
        note=True)
    rows = []
    for i, r in enumerate(table['rows']):
        rows.append([r['action'], Cell(r['total'], 'int')] + [
            entry_cell(r['rates'][c], ['decisions', 'rows', i, 'rates', c])
            for c in classes
        ])
    rep.table(['action', 'lesions'] + [f'true {c}' for c in classes], rows,
              'decisions')
    # 'pivi_npv' in a metrics.json of an older version
    name = 'leave_npv' if 'leave_npv' in table else 'pivi_npv'
    if name in table:
        npv = table[name]
        if npv['n'] == 0:
            rep.banner("No confident 'leave in situ' call: their NPV is "
                       'undefined; nothing supports diagnose-and-leave.')
        elif npv['flag']:
            rep.banner("NPV of the confident 'leave in situ' calls: lower "
                       f"bound {npv['ci_lower']:.3f} is under the target "
                       f"{npv['target']:.2f} ({npv['k']}/{npv['n']}): do not "
                       'diagnose and leave on this evidence.')
        rep.table(['measure', 'value'], [
            [
                "NPV of the confident 'leave in situ' calls, all lesions "
                '(not PIVI: no size or site restriction)',
                entry_cell(npv, ['decisions', name])
            ],
            ['target', Cell(npv['target'])],
        ] + [[
            f'miss rate of {c} (confidently given another action)',
            entry_cell(e, ['decisions', 'miss_rate', c])
        ] for c, e in table['miss_rate'].items()], 'leave_npv')
