# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A STARD-style flow of the lesions (and images) of a study: lesions in
each split of the split sheet, lesions of the evaluated split that are
excluded (listed in the sheet, absent from the predictions: unreadable
images or failed checks), deferred as uncertain under the operating point,
and analysed.

Reference: Bossuyt PM, Reitsma JB, Bruns DE, et al. STARD 2015: an updated
list of essential items for reporting diagnostic accuracy studies. BMJ
2015;351:h5527 (item 19, the flow diagram).
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np

from .predictions import name_list


def _short(lesion_id) -> str:
    return str(lesion_id).strip().split('/')[-1]


def study_flow(lesion_ids: Sequence[str],
               num_images: Optional[Sequence[int]] = None,
               uncertain: Optional[Sequence[bool]] = None,
               splits: Optional[Dict[str, Sequence[str]]] = None,
               evaluated_split: Optional[str] = None,
               split_images: Optional[Dict[str, int]] = None) -> 'OrderedDict':
    """The numbers of the flow diagram.

    Args:
        lesion_ids (Sequence[str]): The lesions of ``lesion_predictions.csv``.
        num_images (Sequence[int], optional): Images per lesion (the CSV's
            ``num_images``).
        uncertain (Sequence[bool], optional): Deferred lesions.
        splits (dict, optional): Split name -> its lesion indices (from the
            split sheet); matched to ``lesion_ids`` by the part after the
            last ``/``.
        evaluated_split (str, optional): The split the predictions are of;
            its sheet lesions without a prediction count as excluded.
        split_images (dict, optional): Split name -> image count.

    Returns:
        OrderedDict: ``splits`` (split, lesions, images), ``evaluated_split``,
        ``eligible``, ``excluded`` (lesions, ids, reason), ``predicted``,
        ``deferred``, ``analysed`` (each ``lesions`` and ``images``).
    """
    ids = [str(x) for x in lesion_ids]
    imgs = (
        np.ones(len(ids), int) *
        -1 if num_images is None else np.asarray(num_images, int))
    unc = (
        np.zeros(len(ids), bool) if uncertain is None else np.asarray(
            uncertain, bool))

    def count(mask):
        n_img = int(imgs[mask].sum()) if num_images is not None else None
        return OrderedDict(lesions=int(mask.sum()), images=n_img)

    out = OrderedDict(splits=[])
    for name, members in (splits or {}).items():
        out['splits'].append(
            OrderedDict(
                split=name,
                lesions=len(members),
                images=(split_images or {}).get(name)))
    out['evaluated_split'] = evaluated_split
    everything = np.ones(len(ids), bool)
    excluded = []
    if splits and evaluated_split in splits:
        have = {_short(x) for x in ids}
        excluded = [
            str(x) for x in splits[evaluated_split] if _short(x) not in have
        ]
        out['eligible'] = OrderedDict(
            lesions=len(splits[evaluated_split]),
            images=(split_images or {}).get(evaluated_split))
    else:
        out['eligible'] = count(everything)
    out['excluded'] = OrderedDict(
        lesions=len(excluded),
        ids=excluded,
        reason='in the split sheet, no prediction (unreadable images or '
        'failed checks)' if excluded else 'none')
    out['predicted'] = count(everything)
    out['deferred'] = count(unc)
    out['deferred']['reason'] = ('uncertain under the operating point'
                                 if uncertain is not None else
                                 'no operating point: nothing deferred')
    out['analysed'] = count(~unc)
    return out


def flow_text(flow: dict) -> str:
    """One line per box, e.g. for the console."""

    def n(box):
        img = box.get('images')
        return f"{box['lesions']} lesions" + (f', {img} images'
                                              if img is not None else '')

    lines = [f"split {s['split']}: {n(s)}" for s in flow['splits']]
    lines += [
        f"eligible ({flow.get('evaluated_split') or 'evaluated'}): "
        f"{n(flow['eligible'])}",
        f"excluded: {flow['excluded']['lesions']} lesions" +
        (f" ({name_list(flow['excluded']['ids'])})" if flow['excluded']['ids']
         else ''), f"predicted: {n(flow['predicted'])}",
        f"deferred as uncertain: {n(flow['deferred'])}",
        f"analysed (confident): {n(flow['analysed'])}"
    ]
    return '\n'.join(lines)


def flow_figure(flow: dict):
    """The flow diagram as boxes and arrows (matplotlib figure)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    def label(title, box):
        img = box.get('images')
        return f"{title}\n{box['lesions']} lesions" + (f'\n{img} images' if img
                                                       is not None else '')

    main = []
    if flow['splits']:
        main.append('\n'.join(['split sheet'] + [
            f"{s['split']}: {s['lesions']} lesions" +
            (f", {s['images']} images" if s.get('images') is not None else '')
            for s in flow['splits']
        ]))
    main += [
        label(f"eligible ({flow.get('evaluated_split') or 'evaluated'})",
              flow['eligible']),
        label('predicted', flow['predicted']),
        label('analysed (confident calls)', flow['analysed'])
    ]
    side = {
        len(main) - 3: label('excluded', flow['excluded']),
        len(main) - 2: label('deferred as uncertain', flow['deferred'])
    }
    fig, ax = plt.subplots(figsize=(6.4, 1.6 * len(main)))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, len(main) * 2)
    ax.axis('off')
    style = dict(boxstyle='round', fc='white', ec='k')
    ys = [len(main) * 2 - 1 - 2 * i for i in range(len(main))]
    for i, (y, text) in enumerate(zip(ys, main)):
        ax.text(3, y, text, ha='center', va='center', bbox=style, fontsize=9)
        if i + 1 < len(main):
            ax.annotate(
                '',
                xy=(3, ys[i + 1] + 0.55),
                xytext=(3, y - 0.55),
                arrowprops=dict(arrowstyle='->'))
        if i in side:
            ax.annotate(
                '',
                xy=(6.2, y - 1),
                xytext=(3, y - 1),
                arrowprops=dict(arrowstyle='->'))
            ax.text(
                7.8,
                y - 1,
                side[i],
                ha='center',
                va='center',
                bbox=style,
                fontsize=9)
    fig.tight_layout()
    return fig
