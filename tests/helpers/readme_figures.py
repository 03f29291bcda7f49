# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The figures the README states about a demo run, parsed from its text and
compared with the run's JSON (issue 28), so the README cannot go stale
silently.

A figure printed with ``d`` decimals matches a value within half a unit of
its last digit (the README's stated tolerance: the printed digits of a run
with the README's epochs and 2 threads); counts match exactly."""
import re

NUM = r'[-+]?[0-9]+(?:\.[0-9]+)?'


def section(text, start, end):
    """The README text from the line starting with ``start`` to the next
    line starting with ``end``."""
    i = text.index('\n' + start) + 1
    j = text.index('\n' + end, i)
    return text[i:j]


def close(printed, value, what):
    """Assert that ``printed`` (a README figure) is ``value`` rounded."""
    assert value is not None, f'{what}: README says {printed}, run has None'
    decimals = len(printed.split('.')[1]) if '.' in printed else 0
    tol = 0.5 * 10**-decimals + 1e-9
    assert abs(float(printed) - value) <= tol, (
        f'{what}: README says {printed}, the run gives {value:.4f}')


def find(pattern, text, what):
    m = re.search(pattern, text)
    assert m, f'{what}: the README no longer has /{pattern}/'
    return m.groups()


TABLE_ROW = (r'^\| {name} \| ({n}) \| ({n}) \| ({n}) \(({n}) to ({n})\) \| '
             r'([A-Za-z ]+), ({n}) \((?:(\d+) vs (\d+) discordant; )?'
             r'Holm ({n})\) \|$')


def check_comparison_table(text, comparison):
    """The worked example's table (clustering - linear) against
    ``comparison.json``."""
    rows = {r['metric']: r for r in comparison['comparisons']}
    names = {
        'accuracy': 'accuracy',
        'macro AUC': 'auc_macro',
        'AUC adenomas': 'auc_adenomas'
    }
    for label, metric in names.items():
        pattern = TABLE_ROW.format(name=re.escape(label), n=NUM)
        m = re.search(pattern, text, re.M)
        assert m, f'table row {label!r}: the README no longer has it'
        a, b, diff, lo, hi, test, p, a_only, b_only, holm = m.groups()
        row = rows[metric]
        for printed, key in ((a, 'value_a'), (b, 'value_b'),
                             (diff, 'difference'), (lo, 'ci_lower'),
                             (hi, 'ci_upper'), (p, 'p_value'), (holm,
                                                                'p_holm')):
            close(printed, row[key], f'{label} {key}')
        assert test == row['test'], (label, test, row['test'])
        if a_only is not None:
            assert (int(a_only), int(b_only)) == (row['a_only'],
                                                  row['b_only']), label


def _group(study, group, session, metric='accuracy'):
    [row] = [
        r for r in study['group_metrics'] if r['group'] == group
        and r['session'] == session and r['metric'] == metric
    ]
    return row


def check_reader_paragraph(text, study):
    """Group means, the model, MRMC and Fleiss' kappa of the worked
    example against ``reader_study.json``."""
    text = ' '.join(text.split())
    iv = rf'({NUM}) \(({NUM})-({NUM})\)'
    e_u, e_a = (
        find(rf'experts {iv} unassisted, {iv} assisted', text,
             'experts')[i:i + 3] for i in (0, 3))
    n_u, n_a = (
        find(rf'non-experts {iv} and {iv}', text, 'non-experts')[i:i + 3]
        for i in (0, 3))
    for (group, session), printed in {
        ('expert', 'unassisted'): e_u,
        ('expert', 'assisted'): e_a,
        ('non-expert', 'unassisted'): n_u,
        ('non-expert', 'assisted'): n_a
    }.items():
        row = _group(study, group, session)
        for p, key in zip(printed, ('value', 'ci_lower', 'ci_upper')):
            close(p, row[key], f'{group} {session} {key}')

    [model] = [r for r in study['model'] if r['metric'] == 'accuracy']
    printed = find(rf'the model ({NUM}) \(Wilson ({NUM})-({NUM})\)', text,
                   'model accuracy')
    for p, key in zip(printed, ('value', 'ci_lower', 'ci_upper')):
        close(p, model[key], f'model accuracy {key}')

    mrmc = {(r['group'], r['fom']): r for r in study['mrmc']}
    groups = {g for g, _ in mrmc}
    [everyone] = groups - {'expert', 'non-expert'}
    diff, lo, hi, f, df2, p = find(
        rf'all 6 readers:\s+({NUM}) \(({NUM}) to ({NUM})\), F = ({NUM}) '
        rf'on 1 and ({NUM}) df, p = ({NUM})', text, 'MRMC')
    row = mrmc[(everyone, 'accuracy')]
    for printed, key in ((diff, 'difference'), (lo, 'ci_lower'),
                         (hi, 'ci_upper'), (f, 'f'), (df2,
                                                      'df2'), (p, 'p_value')):
        close(printed, row[key], f'MRMC {key}')
    p_e, p_n = find(rf'\(experts p = ({NUM}), non-experts p = ({NUM})\)', text,
                    'MRMC groups')
    close(p_e, mrmc[('expert', 'accuracy')]['p_value'], 'MRMC experts p')
    close(p_n, mrmc[('non-expert', 'accuracy')]['p_value'],
          'MRMC non-experts p')

    k_u, k_a = find(
        rf"Fleiss' kappa, all readers: ({NUM}) unassisted, ({NUM}) "
        'assisted', text, 'Fleiss')
    kappas = {
        a['session']: [f for f in a['fleiss'] if f['num_readers'] == 6][0]
        for a in study['agreement']
    }
    close(k_u, kappas['unassisted']['kappa'], 'Fleiss unassisted')
    close(k_a, kappas['assisted']['kappa'], 'Fleiss assisted')


def check_pipeline_figures(text, doc, op):
    """The main job's table and operating point against the pipeline's
    ``lesion_eval/metrics.json`` (``doc``) and ``operating_point.json``."""
    m, counts = doc['metrics'], doc['counts']
    for level in ('image', 'lesion'):
        acc, lo, hi, k, n, auc, a_lo, a_hi, sens = find(
            rf'\| {level} \| ({NUM}) \(({NUM})-({NUM})\) (\d+)/(\d+) \| '
            rf'({NUM}) \(({NUM})-({NUM})\) \| ({NUM}) \|', text, level)
        for printed, key in ((acc, 'accuracy'), (lo, 'accuracy_ci_lower'),
                             (hi, 'accuracy_ci_upper'), (auc, 'auc_macro'),
                             (a_lo, 'auc_macro_ci_lower'),
                             (a_hi, 'auc_macro_ci_upper'),
                             (sens, 'sensitivity_macro')):
            close(printed, m[f'{level}/{key}'], f'{level}/{key}')
        c = counts[f'{level}/accuracy']
        assert (int(k), int(n)) == (c['k'], c['n']), level
    text = ' '.join(text.split())
    temp, conf = find(
        rf'temperature ({NUM}), uncertain below confidence ({NUM})', text,
        'operating point')
    close(temp, op['temperature'], 'temperature')
    close(conf, op['min_confidence'], 'min_confidence')
    k, n, cov, lo, hi = find(
        rf'accepts (\d+)/(\d+) lesions \(coverage ({NUM}), Wilson '
        rf'({NUM})-({NUM})\)', text, 'coverage')
    close(cov, m['selective/coverage'], 'coverage')
    close(lo, m['selective/coverage_ci_lower'], 'coverage lower')
    close(hi, m['selective/coverage_ci_upper'], 'coverage upper')
    c = counts['selective/coverage']
    assert (int(k), int(n)) == (c['k'], c['n']), 'coverage k/n'
    k, n, acc, lo, hi = find(
        rf'accuracy is (\d+)/(\d+) = ({NUM}) \(({NUM})-({NUM})\)', text,
        'selective accuracy')
    close(acc, m['selective/accuracy'], 'selective accuracy')
    close(lo, m['selective/accuracy_ci_lower'], 'selective accuracy lower')
    close(hi, m['selective/accuracy_ci_upper'], 'selective accuracy upper')
    c = counts['selective/accuracy']
    assert (int(k), int(n)) == (c['k'], c['n']), 'selective accuracy k/n'


def check_ablation_sentence(text, metrics):
    """The main job's sentence on the linear-head ablation (trained by the
    worked example) against its ``metrics.json`` metrics."""
    acc, auc = find(
        rf'gives accuracy ({NUM}) and macro AUC ({NUM}) on the same encoder',
        ' '.join(text.split()), 'ablation')
    close(acc, metrics['lesion/accuracy'], 'ablation accuracy')
    close(auc, metrics['lesion/auc_macro'], 'ablation macro AUC')
