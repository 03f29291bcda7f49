# Copyright (c) ecdl_mm contributors. All rights reserved.
import os
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.apis.base import ModelType
from mmpretrain.structures import DataSample

from ..deploy import load_model_backend
from ..evaluation.functional import AGGREGATIONS
from ..evaluation.lesion_table import write_lesion_table
from ..evaluation.operating_point import OperatingPoint
from ..inference.device_decode import EncodedImageReader, device_decoder
from ..inference.image_batches import (LesionImageLoader, image_batches,
                                       raw_collate)
from ..inference.lesion_discovery import (  # noqa: F401 (re-exported)
    VIDEO_EXTENSIONS, LesionInputError, LooseImagesWarning, find_lesions)
from ..inference.preprocess import device_preprocessor
from ..inference.views import TestTimeView
from ..models.builder import load_model
from ..utils.checkpoint import load_model_checkpoint
from ..utils.threads import set_inference_threads
from .inference_outputs import dump_results_json, results_table
from .lesion_drawings import draw_lesions
from .lesion_pipeline import (build_test_pipeline, dataset_classes,
                              pipeline_input_size)
from .lesion_results import lesion_results


class LesionInferencer(ImageClassificationInferencer):
    """One diagnosis per lesion from the images of each lesion.

    Follows mmpretrain's inferencer contract (:class:`BaseInferencer`):
    ``__call__`` runs :meth:`_inputs_to_list` (lesion discovery, see
    :meth:`find_lesions`), :meth:`preprocess` (the config's test pipeline,
    its own loading transform included, so any size and grayscale input are
    handled as in testing; decoded in ``num_workers`` threads,
    ``batch_size`` images per batch, across lesions), :meth:`forward` (the
    backend under the test-time view), :meth:`visualize` (per image, as
    :class:`ImageClassificationInferencer`) and :meth:`postprocess` (the
    images' scores aggregated per lesion with
    :func:`ecdl_mm.evaluation.functional.aggregate_lesions`).

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
        backend (str): A :func:`ecdl_mm.deploy.load_backend` backend
            ('eager', 'torchscript', 'onnx', 'cuda-graph', ...). Defaults to
            'eager'.
        precision (str, optional): 'fp32', 'fp16' or 'bf16' (CUDA only).
            Defaults to None (fp16 for 'cuda-graph', else fp32).
        preprocess (str): 'auto', 'pipeline' or 'device' (crop, resize and
            normalise on the GPU after decoding, see
            :func:`ecdl_mm.inference.preprocess.device_preprocessor`).
            Defaults to 'auto'.
        num_workers (int): Threads decoding images while the
            model runs. Defaults to 0 (decoding in this process).
        decode (str): 'cpu' (the loading transform, in the threads),
            'device' (JPEGs decoded on the model's device, nvJPEG on a GPU;
            needs the device pre-processing, see
            :mod:`ecdl_mm.inference.device_decode`) or 'auto' ('device' when
            the pre-processing runs on a GPU, else 'cpu'). Defaults to
            'auto'.

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
                 backend: str = 'eager',
                 precision: Optional[str] = None,
                 preprocess: str = 'auto',
                 num_workers: int = 0,
                 decode: str = 'auto',
                 **kwargs) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                f'num_workers={num_workers!r} must be an integer >= 0')
        if num_threads is not None:
            set_inference_threads(num_threads)
        if aggregation not in AGGREGATIONS:
            raise ValueError(f'aggregation={aggregation!r} must be one of '
                             f'{AGGREGATIONS}')
        if isinstance(operating_point, (str, os.PathLike)):
            operating_point = OperatingPoint.load(os.fspath(operating_point))
        self.operating_point = operating_point
        # Weights through load_model, never mmpretrain's get_model, which
        # accepts a checkpoint that leaves the head random (it only logs).
        if not isinstance(model, BaseModel):
            model_kwargs = {
                k: kwargs.pop(k)
                for k in list(kwargs)
                if k not in ('device_map', 'offload_folder')
            }
            model = load_model(
                model, pretrained, index_weights=True, **model_kwargs)
        elif isinstance(pretrained, (str, os.PathLike)):
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
        self.num_workers = num_workers
        self.view = TestTimeView.of(operating_point)
        self.device_pre = device_preprocessor(self.pipeline_cfg, self.model,
                                              preprocess)
        self.decode_pre = device_decoder(self.pipeline_cfg, self.model,
                                         self.device_pre, decode)
        self.backend_name, self.precision = backend, precision
        self._backend = self._backend_of = None
        _ = self.backend  # load-time checks (GPU-only options, precision)

    @property
    def backend(self) -> Callable:
        """``self.model`` through :func:`load_backend` (rebuilt when the
        model is replaced)."""
        if self._backend_of is not self.model:
            self._backend = load_model_backend(self.model, self.backend_name,
                                               self._input_size(),
                                               self.precision)
            self._backend_of = self.model
        return self._backend

    _dataset_classes = staticmethod(dataset_classes)

    def _init_pipeline(self, cfg: Config) -> Callable:
        # The loading transform is kept: files are read as at test time.
        self.pipeline_cfg, pipeline = build_test_pipeline(
            cfg, self.operating_point)
        return pipeline

    # ------------------------------------------------------------ lesions
    find_lesions = staticmethod(find_lesions)

    def _inputs_to_list(self, inputs) -> List[dict]:
        """The lesions of ``inputs``: ``[dict(lesion_id, path, images,
        gt_label, gt_class)]`` (see :meth:`find_lesions`)."""
        found = self.find_lesions(
            inputs,
            classes=self.classes,
            lesion_per_folder=self.lesion_per_folder)
        return [dict(lesion_id=k, **v) for k, v in found.items()]

    # --------------------------------------------------------- inference
    def _input_size(self) -> tuple:
        """The model's input ``(H, W)``
        (:func:`~.lesion_pipeline.pipeline_input_size`)."""
        return pipeline_input_size(self.pipeline_cfg)

    def preprocess(self,
                   inputs: List[dict],
                   batch_size: int = 16) -> Iterator[dict]:
        """Read every image of the lesions, ``num_workers`` threads
        decoding ahead (:func:`ecdl_mm.inference.image_batches`).

        Args:
            inputs (list[dict]): Lesions as :meth:`_inputs_to_list` gives.
            batch_size (int): Images per batch (a batch may hold images of
                several lesions). Defaults to 16.

        Yields:
            dict: ``default_collate`` of the pipeline outputs (or, with the
            device pre-processing, ``imgs``: the decoded images); every data
            sample carries ``lesion_id``, ``lesion_path`` and ``img_path``
            (and ``gt_label`` when the layout gives the class).

        Raises:
            LesionInputError: For an image the pipeline cannot read.
        """
        if self.device_pre is None:
            load = LesionImageLoader(self.pipeline)
            yield from image_batches(inputs, load, batch_size,
                                     self.num_workers)
            return
        read = self.pipeline.transforms[0]
        if self.decode_pre is not None:
            read = EncodedImageReader(read)
        load = LesionImageLoader(read, raw=True)
        yield from image_batches(inputs, load, batch_size, self.num_workers,
                                 raw_collate)

    def forward(self, inputs: dict, **kwargs) -> List[DataSample]:
        """The probabilities of one batch through the backend under the
        test-time view (:func:`ecdl_mm.inference.view_probs`: with the
        operating point's ``flip``, one call on the images and their
        mirrors)."""
        with torch.inference_mode():
            if 'imgs' in inputs:
                samples = inputs['data_samples']
                if self.decode_pre is not None:
                    x = self.decode_pre(inputs['imgs'], samples)
                else:
                    x = self.device_pre(inputs['imgs'])
            else:
                data = self.model.data_preprocessor(inputs, False)
                x, samples = data['inputs'], data['data_samples']
            probs = self.view.probs(self.backend, x).cpu()
        for sample, p in zip(samples, probs):
            sample.set_pred_score(p).set_pred_label(p.argmax())
        return samples

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
        return draw_lesions(ori_inputs, preds,
                            super().visualize, show, show_dir, **kwargs)

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
        """Aggregate the image predictions per lesion
        (:func:`~.lesion_results.lesion_results`).

        Image scores are calibrated by the operating point (if any), then
        aggregated with :func:`aggregate_lesions` (``aggregation``).

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
        return lesion_results(
            preds,
            visualization,
            return_datasamples,
            classes=self.classes,
            aggregation=self.aggregation,
            operating_point=self.operating_point)

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
