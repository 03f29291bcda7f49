# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Lesion discovery: the images under some paths, grouped by lesion as
:class:`ecdl_mm.datasets.ECNBIDataset` and ``LesionMetric`` name them."""
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import List, Optional, Sequence, Union

from ..datasets.ecnbi_dataset import IMG_EXTENSIONS
from .image_batches import LesionInputError

#: Extensions of files that are videos, not images: they go to the stream
#: inferencer (``tools/realtime.py``), and get a message saying so.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg', '.mpeg',
                    '.wmv', '.m4v')


class LooseImagesWarning(UserWarning):
    """Images lie directly in a folder whose layout does not say they are one
    lesion: each was diagnosed as its own lesion."""


def _image_files(folder: str, files: Sequence[str],
                 extensions: Sequence[str]) -> List[str]:
    return [
        osp.join(folder, f) for f in sorted(files)
        if osp.splitext(f)[1].lower() in extensions
    ]


def find_lesions(
        paths: Union[str, Sequence[str]],
        classes: Optional[Sequence[str]] = None,
        lesion_per_folder: bool = False,
        extensions: Sequence[str] = IMG_EXTENSIONS
) -> 'OrderedDict[str, dict]':
    """Group the images under ``paths`` by lesion.

    A folder holding images is one lesion when the layout says so: it is
    an ``Images/`` folder (the lesion is its parent, as in EC-DL's
    ``<class>/<lesion>/Images``), or it sits in a folder named after a
    class (``<class>/<lesion>/*.jpg``), or ``lesion_per_folder`` is
    set. Otherwise each of its images is its own lesion and a
    :class:`LooseImagesWarning` names the folder: images of different
    lesions are never averaged silently.

    Lesion ids are ``'<cohort>/<lesion>'`` as in
    :class:`ecdl_mm.datasets.ECNBIDataset`: under a class folder the
    cohort is the folder holding the class folders (``ecdl-demo/730``)
    and the class gives ``gt_label`` / ``gt_class``; otherwise the id is
    the lesion folder's parent and name (``cohort_b/L7``), or for a loose
    image its folder and file name (``photos/x.jpg``). An image given
    directly belongs to its lesion folder's id when the layout gives
    one.

    Args:
        paths (str | Sequence[str]): Images, lesion folders or folders of
            lesion folders (searched recursively).
        classes (Sequence[str], optional): Class names, to recognise
            class folders. Defaults to None (no class folder).
        lesion_per_folder (bool): The images directly in any folder are
            one lesion. Defaults to False.
        extensions (Sequence[str]): Image file extensions.

    Returns:
        OrderedDict: lesion id to ``dict(path=..., images=[...],
        gt_label=int | None, gt_class=str | None)``, in input order.

    Raises:
        FileNotFoundError: For a path that does not exist.
        LesionInputError: For a folder without any image, a file that is
            not an image (a video, say), or one id for two folders.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    classes = list(classes or [])
    exts = tuple(e.lower() for e in extensions)
    lesions = OrderedDict()

    def name(path):
        return osp.basename(osp.abspath(path))

    def lesion_of(folder, loose_image=None):
        """(id, lesion folder, gt_label) of images lying in folder."""
        grouped = osp.basename(folder) == 'Images'
        lesion_dir = osp.dirname(folder) if grouped else folder
        parent = osp.dirname(osp.abspath(lesion_dir))
        if osp.basename(parent) in classes:
            cohort = name(osp.dirname(parent))
            return (f'{cohort}/{name(lesion_dir)}', lesion_dir,
                    classes.index(osp.basename(parent)))
        if grouped or loose_image is None:
            return f'{name(parent)}/{name(lesion_dir)}', lesion_dir, None
        return (f'{name(folder)}/{osp.basename(loose_image)}', loose_image,
                None)

    def add(lesion_id, lesion_path, gt_label, images):
        entry = lesions.get(lesion_id)
        if entry is not None and osp.abspath(entry['path']) != \
                osp.abspath(lesion_path):
            raise LesionInputError(
                f'lesion id {lesion_id!r} names two different inputs, '
                f'{entry["path"]} and {lesion_path}: give them as '
                'separate runs, or rename one folder')
        if entry is None:
            entry = lesions[lesion_id] = dict(
                path=lesion_path,
                images=[],
                gt_label=gt_label,
                gt_class=None if gt_label is None else classes[gt_label])
        entry['images'].extend(i for i in images if i not in entry['images'])

    def add_folder(folder, images, warn=True):
        grouped = (
            lesion_per_folder or osp.basename(folder) == 'Images'
            or lesion_of(folder)[2] is not None)
        if grouped:
            add(*lesion_of(folder), images)
            return
        if warn and len(images) > 1:
            warnings.warn(
                f'{len(images)} images lie directly in {folder}: each is '
                'diagnosed as its own lesion (put the images of one '
                'lesion in their own folder, or pass '
                '--lesion-per-folder / lesion_per_folder=True to make '
                'every folder one lesion)', LooseImagesWarning)
        for image in images:
            add(*lesion_of(folder, image), [image])

    for path in paths:
        path = osp.normpath(os.fspath(path))
        if osp.isfile(path):
            ext = osp.splitext(path)[1].lower()
            if ext in VIDEO_EXTENSIONS:
                raise LesionInputError(
                    f'{path} is a video: LesionInferencer / infer.py '
                    'take images (tools/realtime.py takes videos)')
            if ext not in exts:
                raise LesionInputError(
                    f'{path} is not an image (extensions {exts})')
            folder = osp.dirname(path) or '.'
            grouped = (
                osp.basename(folder) == 'Images'
                or lesion_of(folder)[2] is not None)
            if grouped or lesion_per_folder:
                add(*lesion_of(folder), [path])
            else:
                add(*lesion_of(folder, path), [path])
            continue
        if not osp.isdir(path):
            raise FileNotFoundError(f'{path} does not exist')
        found, videos = False, []

        def fail(err):
            raise LesionInputError(f'cannot read {err.filename}: '
                                   f'{err.strerror}')

        for cur, dirs, files in os.walk(path, onerror=fail):
            dirs.sort()
            images = _image_files(cur, files, exts)
            videos += _image_files(cur, files, VIDEO_EXTENSIONS)
            if images:
                found = True
                add_folder(cur, images)
        if not found:
            hint = (f'; {videos[0]} is a video: tools/realtime.py takes '
                    'videos' if videos else '')
            raise LesionInputError(
                f'no image with extension in {exts} under {path}{hint}')
    return lesions


__all__ = [
    'LesionInputError', 'LooseImagesWarning', 'VIDEO_EXTENSIONS',
    'find_lesions'
]
