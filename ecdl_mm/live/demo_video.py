# Copyright (c) ecdl_mm contributors. All rights reserved.
"""A synthetic EC-NBI video made of the real demo stills, with per-frame
ground truth, for the live CAD's demo and tests.

Each lesion is one real still, played through the phases of an
endocytoscopy: out of contact (no field), the approach (defocus to focus
while the light comes up), contact (sharp, slight jitter), a motion-blurred
slip, contact again, halation (a saturated glare), contact again, and the
withdrawal to the next lesion (no field, long enough to end the lesion).
The frames are synthesized from real stills: they show real mucosa, but the
blur, motion, glare and timing are simulated.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: (phase, frames) of one lesion, in order.
PHASES: Tuple[Tuple[str, int], ...] = (
    ('no_contact', 8),
    ('approach', 12),
    ('contact', 18),
    ('motion', 6),
    ('contact', 10),
    ('halation', 5),
    ('contact', 10),
    ('withdraw', 18),
)
#: Phases whose frames should be diagnosed (the sharp approach frames too).
USABLE_PHASES = ('contact', )


def _demo_stills(demo_root: str,
                 split: Optional[str] = None) -> List[Tuple[str, str, str]]:
    """``(lesion_key, class_name, image_path)`` of every demo lesion (of the
    ``split`` sheet of ``dataset_divide.xlsx`` when given), in class then
    lesion order."""
    keep = None
    if split is not None:
        from ..datasets.split_sheet import load_split_sheet
        sheet = load_split_sheet(
            osp.join(demo_root, 'dataset_divide.xlsx'), sheet_name=split)
        keep = {
            f'{c}/{les}'
            for c, les in zip(sheet['class_english'], sheet['lesion_index'])
        }
    out = []
    for cls in sorted(os.listdir(demo_root)):
        cdir = osp.join(demo_root, cls)
        if not osp.isdir(cdir):
            continue
        for les in sorted(os.listdir(cdir), key=lambda s: (len(s), s)):
            img_dir = osp.join(cdir, les, 'Images')
            if not osp.isdir(img_dir):
                continue
            imgs = sorted(os.listdir(img_dir))
            if imgs and (keep is None or f'{cls}/{les}' in keep):
                out.append((f'{cls}/{les}', cls, osp.join(img_dir, imgs[0])))
    if not out:
        raise FileNotFoundError(
            f'no <class>/<lesion>/Images/<image> under {demo_root}')
    return out


def pick_lesions(demo_root: str,
                 num_lesions: int,
                 seed: int = 0,
                 split: Optional[str] = None) -> List[Tuple[str, str, str]]:
    """``num_lesions`` stills taken in turn from each class (seeded order),
    each once before any is taken again."""
    stills = _demo_stills(demo_root, split)
    rng = np.random.default_rng(seed)
    by_class: Dict[str, list] = {}
    for s in stills:
        by_class.setdefault(s[1], []).append(s)
    for v in by_class.values():
        rng.shuffle(v)
    order, rnd = [], 0
    while len(order) < len(stills):
        order += [v[rnd] for _, v in sorted(by_class.items()) if rnd < len(v)]
        rnd += 1
    return [order[i % len(order)] for i in range(num_lesions)]


def _shift(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_CONSTANT)


def _frame(still, field, phase, k, n, rng) -> Tuple[np.ndarray, dict]:
    """One synthetic frame of ``phase`` (step ``k`` of ``n``) and its
    ground-truth parameters."""
    gt = dict(phase=phase, blur_sigma=0.0, gain=1.0, shift=0.0)
    if phase in ('no_contact', 'withdraw'):
        level = rng.integers(0, 6)
        img = np.full_like(still, level)
        return img, gt
    if phase == 'approach':
        t = (k + 1) / n  # 0 -> 1
        sigma = 8.0 * (1 - t)
        gain = 0.35 + 0.65 * t
        img = cv2.GaussianBlur(still, (0, 0), sigma) if sigma > 0.3 else \
            still.copy()
        img = cv2.convertScaleAbs(img, alpha=gain)
        gt.update(blur_sigma=round(sigma, 3), gain=round(gain, 3))
    elif phase == 'contact':
        dx, dy = rng.integers(-1, 2, size=2)
        img = _shift(still, float(dx), float(dy)) if dx or dy else \
            still.copy()
        gt.update(shift=float(np.hypot(dx, dy)))
    elif phase == 'motion':
        length = 41
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        dx = 12.0 * (k + 1)
        img = cv2.filter2D(_shift(still, dx, 0.0), -1, kernel)
        gt.update(shift=dx, blur_sigma=length / np.sqrt(12))
    elif phase == 'halation':
        img = still.copy()
        h, w = img.shape[:2]
        centre = (int(w * (0.4 + 0.05 * k)), int(h * 0.45))
        axes = (int(w * 0.3), int(h * 0.22))
        cv2.ellipse(img, centre, axes, 20, 0, 360, (255, 255, 255), -1)
        img = cv2.GaussianBlur(img, (0, 0), 3)
        gt.update(gain=1.0)
    else:
        raise ValueError(f'unknown phase {phase!r}')
    img[field == 0] = 0
    return img, gt


def make_demo_video(demo_root: str,
                    out: str,
                    num_lesions: int = 4,
                    fps: float = 30.0,
                    width: Optional[int] = None,
                    seed: int = 0,
                    phases: Sequence[Tuple[str, int]] = PHASES,
                    split: Optional[str] = 'demo_test') -> dict:
    """Write the synthetic video and its ground truth.

    Args:
        demo_root (str): The demo data (``<class>/<lesion>/Images/*.jpg``).
        out (str): Video path. ``.avi`` (MJPG, every frame coded on its
            own) is the faithful one; ``.mp4`` (mp4v, the only mp4 codec of
            OpenCV's wheels, at its fixed bitrate) leaves block residue of
            the sharp frames in the blurred ones that follow, enough to make
            the first motion-blurred frame look sharp to the gate.
        num_lesions (int): Lesions in the video. Defaults to 4.
        fps (float): Frame rate. Defaults to 30.
        width (int, optional): Frame width (aspect kept); defaults to the
            stills' own.
        seed (int): Seed of the lesion choice and jitter. Defaults to 0.
        phases (Sequence[tuple]): ``(phase, frames)`` per lesion.
            Defaults to :data:`PHASES`.
        split (str, optional): Take the lesions of this sheet of
            ``dataset_divide.xlsx`` only (the demo model never trained on
            ``demo_test``); None for all. Defaults to 'demo_test'.

    Returns:
        dict: Paths of the ``video``, the per-frame ground truth
        ``frames_csv`` (``frame``, ``time``, ``lesion_id``, ``gt_class``,
        ``source``, ``phase``, ``blur_sigma``, ``gain``, ``shift``,
        ``usable``), the ``labels_csv`` for ``tools/realtime.py --labels``
        (``lesion_id``, ``patient_id``, ``gt_class``) and ``meta_json``.
    """
    import pandas as pd

    from .video_io import fit_to, open_video_writer
    rng = np.random.default_rng(seed)
    lesions = pick_lesions(demo_root, num_lesions, seed, split)
    stem = osp.splitext(out)[0]
    # the ids LesionMetric gives these lesions in a still-image test
    cohort = osp.basename(osp.normpath(demo_root))
    rows, labels = [], []
    writer = None
    index = 0
    size = None
    for n, (key, cls, path) in enumerate(lesions, start=1):
        still = cv2.imread(path, cv2.IMREAD_COLOR)
        if still is None:
            raise OSError(f'cannot read demo image {path}')
        if size is None:
            w = width or still.shape[1]
            size = (int(w) // 2 * 2,
                    int(round(w * still.shape[0] / still.shape[1])) // 2 * 2)
        still = fit_to(still, size)
        field = (cv2.cvtColor(still, cv2.COLOR_BGR2GRAY) > 12).astype(np.uint8)
        labels.append(
            dict(
                lesion_id=str(n),
                study_id=f'{cohort}/{key.split("/")[-1]}',
                gt_class=cls))
        for phase, count in phases:
            for k in range(count):
                img, gt = _frame(still, field, phase, k, count, rng)
                if writer is None:
                    writer = open_video_writer(out, fps, size[0], size[1])
                writer.write(fit_to(img, writer.size))
                rows.append(
                    dict(
                        frame=index,
                        time=round(index / fps, 6),
                        lesion_id=str(n),
                        gt_class=cls,
                        source=key,
                        usable=phase in USABLE_PHASES,
                        **gt))
                index += 1
    writer.release()
    frames_csv, labels_csv = stem + '.frames.csv', stem + '.labels.csv'
    pd.DataFrame(rows).to_csv(frames_csv, index=False)
    pd.DataFrame(labels).to_csv(labels_csv, index=False)
    meta = dict(
        video=out,
        fps=fps,
        frames=index,
        size=list(size),
        lesions=labels,
        phases=[list(p) for p in phases],
        seed=seed,
        split=split,
        note='synthesized from the real demo stills: real mucosa, simulated '
        'approach, contact, motion blur, halation and lesion changes')
    meta_json = stem + '.json'
    with open(meta_json, 'w') as f:
        json.dump(meta, f, indent=2)
    return dict(
        video=out,
        frames_csv=frames_csv,
        labels_csv=labels_csv,
        meta_json=meta_json,
        frames=index)
