# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import os.path as osp
import sys
import warnings
from collections import OrderedDict
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.model import BaseModel
from mmpretrain.apis import ImageClassificationInferencer, get_model
from mmpretrain.apis.base import ModelType
from mmpretrain.registry import DATASETS, TRANSFORMS
from mmpretrain.structures import DataSample

from ..datasets.ecnbi_dataset import IMG_EXTENSIONS
from ..evaluation.functional import AGGREGATIONS, aggregate_lesions
from ..evaluation.lesion_table import write_lesion_table
from ..evaluation.operating_point import OperatingPoint, OperatingPointError
from ..utils.checkpoint import load_model_checkpoint
from ..utils.threads import set_inference_threads
from .inference_outputs import dump_results_json, results_table

#: Extensions of files that are videos, not images: they go to the stream
#: inferencer (``tools/realtime.py``), and get a message saying so.
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg', '.mpeg',
                    '.wmv', '.m4v')


class LesionInputError(ValueError):
    """An input the inferencer cannot use (no image in a folder, an
    unreadable or broken image, a video file, two folders with one lesion
    id); the message names the path."""


class LooseImagesWarning(UserWarning):
    """Images lie directly in a folder whose layout does not say they are one
    lesion: each was diagnosed as its own lesion."""


def _image_files(folder: str, files: Sequence[str],
                 extensions: Sequence[str]) -> List[str]:
    return [
        osp.join(folder, f) for f in sorted(files)
        if osp.splitext(f)[1].lower() in extensions
    ]


class LesionInferencer(ImageClassificationInferencer):
    """One diagnosis per lesion from the images of each lesion.

    Follows mmpretrain's inferencer contract (:class:`BaseInferencer`):
    ``__call__`` runs :meth:`_inputs_to_list` (lesion discovery, see
    :meth:`find_lesions`), :meth:`preprocess` (the config's test pipeline,
    its own loading transform included, so any size and grayscale input are
    handled as in testing; ``batch_size`` images per batch, across lesions),
    :meth:`forward` (``model.test_step``), :meth:`visualize` (per image, as
    :class:`ImageClassificationInferencer`) and :meth:`postprocess` (the
    images' scores aggregated per lesion with
    :meth:`ecdl_mm.evaluation.LesionMetric.aggregate`).

    Lesion ids are those of :class:`ecdl_mm.evaluation.LesionMetric` and
    :class:`ecdl_mm.datasets.ECNBIDataset`: ``'<cohort>/<lesion>'``, the
    cohort being the name of the folder that holds the class folders
    (``ecdl-demo/730`` for ``ecdl-demo/adenomas/730/Images/*.jpg``, whether
    the root, a class folder, the lesion folder or one of its images is
    given). When the layout gives the class, the result has ``gt_label`` and
    ``gt_class``.

    Args:
        model (BaseModel | str | Config): A config path or object, or a model.
        pretrained (str | bool): The checkpoint: a path, URL or any mmengine
            scheme, read without running pickled code; it must hold every
            weight of the model (else
            :class:`ecdl_mm.utils.CheckpointKindError`). Defaults to True
            (``load_from`` of the config, if any).
        device (str | torch.device, optional): Device to run on.
            Defaults to None (where the model is built, CPU).
        classes (Sequence[str], optional): Class names; defaults to the
            checkpoint's ``dataset_meta``, else the test dataset's.
        aggregation (str): One of :data:`LesionMetric`'s aggregations
            (``AGGREGATIONS``: 'mean', 'vote', 'max'). Defaults to 'mean'.
        num_threads (int, optional): CPU threads for inference (intra-op;
            inter-op is set to 1). Defaults to None (torch's default).
        lesion_per_folder (bool): Treat the images lying directly in any
            folder as one lesion. Defaults to False: such loose images are
            each their own lesion, with a :class:`LooseImagesWarning` naming
            the folder, unless the layout makes the folder a lesion (an
            ``Images/`` folder, or a folder inside a class folder).
        operating_point (str | OperatingPoint, optional): An operating point
            (``tools/analysis/fit_operating_point.py``): its test-time view is
            applied, the probabilities are calibrated (per image, before
            aggregation) and each lesion gets ``uncertain``. Defaults to None.

    Example:
        >>> from ecdl_mm.apis import LesionInferencer
        >>> inferencer = LesionInferencer('configs/ecdl/x.py', 'epoch_10.pth')
        >>> results = inferencer(['path/to/lesion_folder'], batch_size=16)
        >>> results[0]['lesion_id'], results[0]['pred_class']
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: ModelType,
                 pretrained: Union[bool, str] = True,
                 device: Union[str, torch.device, None] = None,
                 classes: Optional[Sequence[str]] = None,
                 aggregation: str = 'mean',
                 num_threads: Optional[int] = None,
                 lesion_per_folder: bool = False,
                 operating_point: Union[str, OperatingPoint, None] = None,
                 **kwargs) -> None:
        if num_threads is not None:
            set_inference_threads(num_threads)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f'aggregation={aggregation!r} must be one of '
                             f'{AGGREGATIONS}')
        if isinstance(operating_point, (str, os.PathLike)):
            operating_point = OperatingPoint.load(os.fspath(operating_point))
        self.operating_point = operating_point
        # Load the weights ourselves: mmpretrain's get_model would accept a
        # checkpoint that leaves the head random (it only logs missing keys).
        if not isinstance(model, BaseModel):
            model_kwargs = {
                k: kwargs.pop(k)
                for k in list(kwargs)
                if k not in ('device_map', 'offload_folder')
            }
            model = get_model(model, pretrained=False, **model_kwargs)
            if pretrained is True:
                pretrained = model._config.get('load_from') or getattr(
                    model._metainfo, 'weights', None)
        if isinstance(pretrained, (str, os.PathLike)):
            load_model_checkpoint(model, os.fspath(pretrained))
        super().__init__(
            model=model,
            pretrained=False,
            device=device,
            classes=classes,
            **kwargs)
        if self.classes is None:
            self.classes = self._dataset_classes(self.config)
        if self.classes is not None:
            self.classes = tuple(self.classes)
        if operating_point is not None:
            operating_point.check_classes(self.classes or (), where='model')
        self.aggregation = aggregation
        self.lesion_per_folder = bool(lesion_per_folder)

    @staticmethod
    def _dataset_classes(cfg: Config) -> Optional[tuple]:
        """Class names of the config's test dataset (its ``metainfo``, else
        its class's ``METAINFO``)."""
        ds = cfg.get('test_dataloader', {}).get('dataset', {})
        classes = (ds.get('metainfo') or {}).get('classes')
        if classes is None and isinstance(ds.get('type'), str):
            ds_cls = DATASETS.get(ds['type'])
            classes = getattr(ds_cls, 'METAINFO', {}).get('classes')
        return tuple(classes) if classes else None

    def _init_pipeline(self, cfg: Config) -> Callable:
        # Keep the loading transform (LoadImageFromFile or a faster one): the
        # pipeline then reads files exactly as at test time.
        pipeline = cfg.test_dataloader.dataset.pipeline
        if not pipeline or 'Load' not in pipeline[0]['type']:
            raise ValueError('the test pipeline must start with an image '
                             f'loading transform, got {pipeline[:1]}')
        if self.operating_point is not None:
            pipeline = self.operating_point.test_pipeline(pipeline)
        transforms = []
        for t in pipeline:
            try:
                transforms.append(TRANSFORMS.build(t))
            except KeyError as err:
                view = getattr(self.operating_point, 'view', None)
                raise OperatingPointError(
                    f'cannot build the test transform {t["type"]!r} '
                    f'(operating-point view {view}): {err}') from err
        return Compose(transforms)

    # ------------------------------------------------------------ lesions
    @staticmethod
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
            entry['images'].extend(i for i in images
                                   if i not in entry['images'])

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

    def _inputs_to_list(self, inputs) -> List[dict]:
        """The lesions of ``inputs``: ``[dict(lesion_id, path, images,
        gt_label, gt_class)]`` (see :meth:`find_lesions`)."""
        found = self.find_lesions(
            inputs,
            classes=self.classes,
            lesion_per_folder=self.lesion_per_folder)
        return [dict(lesion_id=k, **v) for k, v in found.items()]

    # --------------------------------------------------------- inference
    def preprocess(self,
                   inputs: List[dict],
                   batch_size: int = 16) -> Iterator[dict]:
        """Run the test pipeline on every image of the lesions.

        Args:
            inputs (list[dict]): Lesions as :meth:`_inputs_to_list` gives.
            batch_size (int): Images per batch (a batch may hold images of
                several lesions). Defaults to 16.

        Yields:
            dict: ``default_collate`` of the pipeline outputs; every data
            sample carries ``lesion_id``, ``lesion_path`` and ``img_path``
            (and ``gt_label`` when the layout gives the class).

        Raises:
            LesionInputError: For an image the pipeline cannot read.
        """

        def load(item):
            lesion, path = item
            try:
                data = self.pipeline(dict(img_path=path))
            except Exception as e:  # decoders raise many types
                raise LesionInputError(
                    f'cannot read image {path} (lesion '
                    f'{lesion["lesion_id"]}): {type(e).__name__}: '
                    f'{str(e).strip() or "unreadable"}') from e
            sample = data.get('data_samples')
            if sample is None:
                sample = data['data_samples'] = DataSample()
            sample.set_metainfo(
                dict(
                    img_path=path,
                    lesion_id=lesion['lesion_id'],
                    lesion_path=lesion['path']))
            if lesion.get('gt_label') is not None:
                sample.set_gt_label(lesion['gt_label'])
            return data

        items = ((lesion, path) for lesion in inputs
                 for path in lesion['images'])
        chunks = self._get_chunk_data(map(load, items), batch_size)
        yield from map(default_collate, chunks)

    def forward(self, inputs: dict, **kwargs) -> List[DataSample]:
        """``model.test_step`` on one batch; with an operating point whose
        view has ``flip``, the mean of the image's and its mirror's
        scores."""
        with torch.inference_mode():
            preds = self.model.test_step(inputs)
            if self.operating_point is not None and \
                    self.operating_point.view.get('flip'):
                scores = [p.pred_score.clone() for p in preds]
                images = inputs['inputs']
                flipped = dict(inputs)
                flipped['inputs'] = images.flip(-1) if isinstance(
                    images, torch.Tensor) else [x.flip(-1) for x in images]
                preds = self.model.test_step(flipped)
                for p, s in zip(preds, scores):
                    mean = (p.pred_score + s) / 2
                    p.set_pred_score(mean).set_pred_label(mean.argmax())
        return preds

    def visualize(self,
                  ori_inputs: List[dict],
                  preds: List[DataSample],
                  show: bool = False,
                  show_dir: Optional[str] = None,
                  **kwargs) -> Optional[List[np.ndarray]]:
        """Draw every image's prediction, as
        :meth:`ImageClassificationInferencer.visualize` (``show``,
        ``resize``, ...); with ``show_dir``, the drawings of a lesion go to
        ``show_dir/<cohort>/<lesion>/<image>.png``.

        Returns:
            list[np.ndarray] | None: One drawing per image, in the order of
            ``preds``; None unless ``show`` or ``show_dir``.
        """
        if not show and show_dir is None:
            return None
        drawings, start = [], 0
        for lesion in ori_inputs:
            n = len(lesion['images'])
            folder = None
            if show_dir is not None:
                folder = osp.join(show_dir, *lesion['lesion_id'].split('/'))
                os.makedirs(folder, exist_ok=True)
            drawings.extend(super().visualize(
                lesion['images'],
                preds[start:start + n],
                show=show,
                show_dir=folder,
                **kwargs))
            start += n
        return drawings

    def __call__(self,
                 inputs: Union[str, Sequence[str]],
                 return_datasamples: bool = False,
                 batch_size: int = 16,
                 show_progress: Optional[bool] = None,
                 **kwargs) -> list:
        """Diagnose every lesion found in ``inputs``.

        Args:
            inputs (str | Sequence[str]): See :meth:`find_lesions`.
            return_datasamples (bool): Return one :class:`DataSample` per
                lesion instead of dicts. Defaults to False.
            batch_size (int): Images per forward pass. Defaults to 16.
            show_progress (bool, optional): A progress bar over images, on
                stderr. Defaults to None: shown when stderr is a terminal.
            **kwargs: :meth:`visualize` arguments (``show``, ``show_dir``,
                ...).

        Returns:
            list: See :meth:`postprocess`.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f'batch_size={batch_size!r} must be a positive integer')
        (preprocess_kwargs, forward_kwargs, visualize_kwargs,
         postprocess_kwargs) = self._dispatch_kwargs(**kwargs)
        ori_inputs = self._inputs_to_list(inputs)
        num_images = sum(len(lesion['images']) for lesion in ori_inputs)
        if show_progress is None:
            show_progress = sys.stderr.isatty()
        bar = None
        if show_progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(num_images, file=sys.stderr)
        preds = []
        for data in self.preprocess(
                ori_inputs, batch_size=batch_size, **preprocess_kwargs):
            out = self.forward(data, **forward_kwargs)
            preds.extend(out)
            if bar is not None:
                bar.update(len(out))
        if bar is not None:
            sys.stderr.write('\n')
        visualization = self.visualize(ori_inputs, preds, **visualize_kwargs)
        return self.postprocess(preds, visualization, return_datasamples,
                                **postprocess_kwargs)

    def postprocess(self,
                    preds: List[DataSample],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasamples: bool = False) -> list:
        """Aggregate the image predictions per lesion.

        Image scores are calibrated by the operating point (if any), then
        aggregated with :meth:`LesionMetric.aggregate` (``aggregation``).

        Args:
            preds (list[DataSample]): Image predictions from
                :meth:`forward`, each with ``lesion_id`` in its metainfo.
            visualization (list, optional): From :meth:`visualize`; kept per
                image as ``visualization`` when given.
            return_datasamples (bool): Return one :class:`DataSample` per
                lesion (``pred_score``, ``pred_label``, ``gt_label`` if
                known; metainfo ``lesion_id``, ``path``, ``num_images``,
                ``uncertain`` with an operating point, ``image_samples``).
                Defaults to False.

        Returns:
            list: Per lesion, in input order, a dict with ``lesion_id``,
            ``path``, ``num_images``, ``pred_scores`` (``(C, )`` array),
            ``pred_label``, ``pred_score``, ``pred_class``, ``gt_label`` and
            ``gt_class`` (when the layout gives the class; else None),
            with an operating point ``uncertain``, ``raw_scores`` and
            ``raw_label`` (the uncalibrated aggregate; ``pred_*`` are then
            calibrated), and ``images`` (per image: ``img_path`` and the
            same ``pred_*`` keys).
        """
        if not preds:
            return []
        scores = np.stack([p.pred_score.float().cpu().numpy() for p in preds])
        op = self.operating_point
        lesion_ids = [p.lesion_id for p in preds]
        if op is not None:
            _, raw_agg, raw_pred, _ = aggregate_lesions(
                scores, lesion_ids, self.aggregation)
            scores = op.calibrate(scores)
        ids, agg, pred, inverse = aggregate_lesions(scores, lesion_ids,
                                                    self.aggregation)
        num_images = np.bincount(inverse, minlength=len(ids))
        uncertain = None if op is None else op.is_uncertain(agg, num_images)
        classes = self.classes or [f'class_{i}' for i in range(agg.shape[1])]
        members = [[] for _ in ids]
        for i, lesion in enumerate(inverse):
            members[lesion].append(i)

        results = []
        for li, lesion_id in enumerate(ids):
            first = preds[members[li][0]]
            label = int(pred[li])
            gt = int(first.gt_label[0]) if 'gt_label' in first else None
            if return_datasamples:
                sample = DataSample().set_pred_score(
                    torch.from_numpy(agg[li])).set_pred_label(label)
                if gt is not None:
                    sample.set_gt_label(gt)
                meta = dict(
                    lesion_id=lesion_id,
                    path=first.lesion_path,
                    num_images=int(num_images[li]),
                    image_samples=[preds[i] for i in members[li]])
                if uncertain is not None:
                    meta['uncertain'] = bool(uncertain[li])
                sample.set_metainfo(meta)
                results.append(sample)
                continue
            result = dict(
                lesion_id=lesion_id,
                path=first.lesion_path,
                num_images=int(num_images[li]),
                pred_scores=agg[li],
                pred_label=label,
                pred_score=float(agg[li, label]),
                pred_class=classes[label],
                gt_label=gt,
                gt_class=None if gt is None else classes[gt])
            if uncertain is not None:
                result.update(
                    uncertain=bool(uncertain[li]),
                    raw_scores=raw_agg[li],
                    raw_label=int(raw_pred[li]))
            images = []
            for i in members[li]:
                s = scores[i]
                image = dict(
                    img_path=preds[i].img_path,
                    pred_scores=s,
                    pred_label=int(s.argmax()),
                    pred_score=float(s.max()),
                    pred_class=classes[int(s.argmax())])
                if visualization:
                    image['visualization'] = visualization[i]
                images.append(image)
            result['images'] = images
            results.append(result)
        return results

    # ------------------------------------------------------------ files
    def results_to_rows(
            self,
            results: List[dict],
            metadata: Optional[Dict[str,
                                    dict]] = None) -> List[Dict[str, object]]:
        """One row per lesion: the columns of ``LesionMetric``'s
        ``lesion_predictions.csv`` plus ``path``
        (:func:`~.inference_outputs.results_table`)."""
        return results_table(results, self.classes, metadata)[0]

    def dump_csv(self,
                 results: List[dict],
                 path: str,
                 metadata: Optional[Dict[str, dict]] = None) -> None:
        """Write :meth:`results_to_rows` as CSV; with the ground truth,
        ``compare_models.py`` and ``reader_study.py`` read it as they read
        ``lesion_predictions.csv``. ``metadata``: lesion index ->
        ``patient_id`` and metadata columns
        (:func:`~ecdl_mm.datasets.lesion_metadata.sheet_metadata`)."""
        rows, columns = results_table(results, self.classes, metadata)
        write_lesion_table(rows, path, columns)

    @staticmethod
    def dump_json(results: List[dict], path: str) -> None:
        """Write the full results (per lesion and per image) as JSON
        (drawings left out)."""
        dump_results_json(results, path)
