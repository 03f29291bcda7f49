# Copyright (c) ecdl_mm contributors. All rights reserved.
"""Diagnosis of lesions from a video stream (the live EC-NBI CAD)."""
import os
from typing import Callable, Iterable, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.model import BaseModel
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.apis.base import ModelType
from mmpretrain.registry import TASK_UTILS, TRANSFORMS
from mmpretrain.structures import DataSample

from ..deploy import BACKENDS, check_gpu_options, load_model_backend
from ..evaluation.operating_point import OperatingPoint
from ..inference.frame_loader import LoadFrame
from ..inference.preprocess import device_preprocessor
from ..inference.views import TestTimeView
from ..models.builder import load_model
from ..utils.checkpoint import load_model_checkpoint
from ..utils.threads import set_inference_threads
from .frame_source import Frame, FrameSource
from .lesion_tracker import LesionTracker
from .video_io import _Writer, fit_to, open_video_writer  # noqa: F401


class StreamInferencer(ImageClassificationInferencer):
    """Per-frame and per-lesion diagnosis of an EC-NBI video.

    Follows mmpretrain's ``BaseInferencer`` contract: ``__call__`` runs
    :meth:`_inputs_to_list` (opens the source), :meth:`preprocess` (quality
    gate, then the test pipeline on the accepted frames), :meth:`forward`
    (the model through the chosen backend), :meth:`visualize` (overlays)
    and :meth:`postprocess` (lesion segmentation and aggregation with
    :class:`LesionTracker`). Frames stream through chunk by chunk, so a
    video is never held in memory.

    The live tool (``tools/realtime.py``, :class:`LiveSession`) uses the same
    parts one frame at a time, with the model in a worker thread.

    Args:
        model (BaseModel | str | Config): A config path or object, or a model.
        pretrained (str | bool): The checkpoint, read without running
            pickled code; it must hold every weight of the model. Defaults to
            True (``load_from`` of the config, if any).
        device (str | torch.device, optional): Device. Defaults to None.
        classes (Sequence[str], optional): Class names; defaults to the
            checkpoint's ``dataset_meta``.
        gate (dict, optional): Config of the quality gate (``TASK_UTILS``);
            defaults to the model config's ``live_gate``, else
            ``dict(type='FrameQualityGate')``.
        tracker (dict, optional): Keyword arguments of
            :class:`LesionTracker`; defaults to the config's
            ``live_tracker``, else its defaults.
        operating_point (str | OperatingPoint, optional): Calibration,
            abstention and view; when None one is made of ``min_confidence``
            and ``min_frames``. Defaults to None.
        min_confidence (float): Least lesion confidence without an operating
            point. Defaults to 0.5.
        min_frames (int): Least used frames of a lesion without an operating
            point. Defaults to 3.
        backend (str): One of :data:`BACKENDS`. Defaults to 'eager'.
        num_threads (int, optional): CPU threads. Defaults to None.
        precision (str, optional): 'fp32', 'fp16' or 'bf16' (CUDA only, see
            :func:`load_backend`). Defaults to None (fp16 for 'cuda-graph').
        preprocess (str): 'auto', 'pipeline' or 'device' (crop, resize and
            normalise on the GPU, :func:`device_preprocessor`). Defaults to
            'auto'.
    """
    preprocess_kwargs = set()
    forward_kwargs = set()
    visualize_kwargs = {'show', 'out_video', 'fps'}
    postprocess_kwargs = set()

    def __init__(self,
                 model: ModelType,
                 pretrained: Union[bool, str] = True,
                 device: Union[str, torch.device, None] = None,
                 classes: Optional[Sequence[str]] = None,
                 gate: Optional[dict] = None,
                 tracker: Optional[dict] = None,
                 operating_point: Union[str, OperatingPoint, None] = None,
                 min_confidence: float = 0.5,
                 min_frames: int = 3,
                 backend: str = 'eager',
                 num_threads: Optional[int] = None,
                 precision: Optional[str] = None,
                 preprocess: str = 'auto',
                 **kwargs) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'backend={backend!r} must be one of {BACKENDS}')
        check_gpu_options(device or 'cpu', backend, precision)
        if num_threads is not None:
            set_inference_threads(num_threads)
        if isinstance(operating_point, (str, os.PathLike)):
            operating_point = OperatingPoint.load(os.fspath(operating_point))
        self.operating_point = operating_point
        if not isinstance(model, BaseModel):
            model = load_model(model, pretrained, **kwargs)
        elif isinstance(pretrained, (str, os.PathLike)):
            load_model_checkpoint(model, os.fspath(pretrained))
        super().__init__(
            model=model, pretrained=False, device=device, classes=classes)
        if self.classes is None:
            num = getattr(self.model.head, 'num_classes', None)
            self.classes = [f'class_{i}' for i in range(num or 0)]
        if self.operating_point is None:
            self.operating_point = OperatingPoint(
                classes=list(self.classes),
                min_confidence=float(min_confidence),
                min_images=int(min_frames))
        else:
            self.operating_point.check_classes(self.classes)
        self.gate_cfg = dict(
            gate or self.config.get('live_gate')
            or dict(type='FrameQualityGate'))
        self.gate = TASK_UTILS.build(self.gate_cfg)
        self.tracker_cfg = dict(
            tracker or self.config.get('live_tracker') or {})
        self.tracker = self.new_tracker()
        self.backend_name, self.precision = backend, precision
        self._backend: Optional[Callable] = None
        self.input_size = self._probe_input_size()
        self.view = TestTimeView.of(self.operating_point)
        self.device_pre = device_preprocessor(
            self.pipeline_cfg, self.model, preprocess, frames=True)

    # ---------------------------------------------------------- building
    def new_tracker(self) -> LesionTracker:
        """A fresh :class:`LesionTracker` with this inferencer's settings."""
        return LesionTracker(self.operating_point, **self.tracker_cfg)

    def _init_pipeline(self, cfg: Config) -> Callable:
        pipeline = list(cfg.test_dataloader.dataset.pipeline)
        if self.operating_point is not None:
            pipeline = self.operating_point.test_pipeline(pipeline)
        if not pipeline or 'Load' not in pipeline[0]['type']:
            raise ValueError('the test pipeline must start with an image '
                             f'loading transform, got {pipeline[:1]}')
        self.pipeline_cfg = pipeline
        return Compose([LoadFrame(pipeline[0])] +
                       [TRANSFORMS.build(t) for t in pipeline[1:]])

    def _probe_input_size(self):
        dummy = np.zeros((256, 256, 3), np.uint8)
        return tuple(self.pipeline(dict(img=dummy))['inputs'].shape[-2:])

    @property
    def backend(self) -> Callable:
        """Normalised ``(B, 3, H, W)`` float tensor -> probabilities
        ``(B, C)``; built on first use."""
        if self._backend is None:
            self._backend = self._build_backend()
        return self._backend

    def _build_backend(self) -> Callable:
        return load_model_backend(self.model, self.backend_name,
                                  self.input_size, self.precision)

    def warmup(self, frame_shape: Sequence[int]) -> None:
        """Run one black frame of ``frame_shape`` (H, W, 3) through the
        pre-processing, the view and the backend, so that what the first
        real frame would pay once (a CUDA graph captured for the view's
        batch, pinned buffers, kernel selection) is paid before the
        clock."""
        img = np.zeros(tuple(frame_shape), np.uint8)
        self.predict_probs(self.collate([img]))

    # ---------------------------------------------------- the BaseInferencer
    def __call__(self,
                 inputs,
                 return_datasamples: bool = False,
                 batch_size: int = 8,
                 **kwargs) -> dict:
        """Diagnose every frame and lesion of ``inputs``.

        Args:
            inputs: A source (see :class:`FrameSource`), a
                :class:`FrameSource`, or a list of BGR frames / :class:`Frame`.
            return_datasamples (bool): Return per-frame ``DataSample``
                instead of dicts. Defaults to False.
            batch_size (int): Frames per chunk. Defaults to 8.
            **kwargs: ``show``, ``out_video`` (path of an annotated video),
                ``fps`` (its frame rate) for :meth:`visualize`.

        Returns:
            dict: ``frames`` (per frame, see :meth:`postprocess`),
            ``lesions`` (per lesion, :meth:`LesionTracker.lesion_call`) and
            ``visualization`` (the annotated video's path, or None).
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f'batch_size={batch_size!r} must be a positive integer')
        (preprocess_kwargs, forward_kwargs, visualize_kwargs,
         postprocess_kwargs) = self._dispatch_kwargs(**kwargs)
        ori_inputs = self._inputs_to_list(inputs)
        self.gate.reset()
        self.tracker = self.new_tracker()
        preds, writer = [], None
        for chunk in self.preprocess(ori_inputs, batch_size,
                                     **preprocess_kwargs):
            chunk_preds = self.forward(chunk, **forward_kwargs)
            writer = self.visualize(
                chunk['frames'],
                chunk_preds,
                writer=writer,
                **visualize_kwargs)
            preds.extend(chunk_preds)
        if writer is not None:
            writer.release()
        return self.postprocess(preds, kwargs.get('out_video'),
                                return_datasamples, **postprocess_kwargs)

    def _inputs_to_list(self, inputs) -> Iterable[Frame]:
        """Open the source: frames are read lazily, in order.

        A list of BGR arrays becomes frames at 30 fps; a :class:`Frame` list,
        a :class:`FrameSource` or any source :class:`FrameSource` accepts is
        used as it is.
        """
        if isinstance(inputs, FrameSource):
            return inputs
        if isinstance(inputs, (list, tuple)):
            return [
                x if isinstance(x, Frame) else Frame(np.asarray(x), i, i / 30)
                for i, x in enumerate(inputs)
            ]
        return FrameSource(inputs)

    def preprocess(self, inputs: Iterable[Frame], batch_size: int = 8):
        """Gate every frame and run the accepted ones through the test
        pipeline.

        Yields:
            dict: ``frames`` (the chunk's :class:`Frame` list), ``gate`` (one
            gate result per frame) and ``data`` (the collated accepted
            frames, or None when none was accepted).
        """
        for chunk in self._get_chunk_data(inputs, batch_size):
            gates = [self.gate(f.image) for f in chunk]
            accepted = [f for f, g in zip(chunk, gates) if g['accepted']]
            yield dict(
                frames=chunk,
                gate=gates,
                data=self.collate([f.image
                                   for f in accepted]) if accepted else None)

    def collate(self, images: Sequence[np.ndarray]) -> dict:
        """Test pipeline and ``default_collate`` for BGR frames; with the
        device pre-processing, ``dict(inputs=<normalised batch>)``."""
        if self.device_pre is not None:
            return dict(inputs=self.device_pre(images), normalised=True)
        return default_collate(
            [self.pipeline(dict(img=img)) for img in images])

    @torch.inference_mode()
    def predict_probs(self, data: dict) -> np.ndarray:
        """Probabilities ``(B, C)`` of a collated batch, through the
        backend.

        The operating point's view applies (:func:`view_probs`: with
        ``flip``, one backend call on the frames and their mirrors).
        """
        inputs = data['inputs'] if data.get('normalised') else \
            self.model.data_preprocessor(data, False)['inputs']
        return self.view.probs(self.backend, inputs).cpu().numpy()

    def forward(self, inputs: dict, **kwargs) -> List[DataSample]:
        """One ``DataSample`` per frame of a chunk: ``pred_score`` for the
        accepted frames, and metainfo ``frame_index``, ``timestamp``,
        ``accepted``, ``reason``, ``quality``, ``read_time``."""
        probs = self.predict_probs(inputs['data']) \
            if inputs['data'] is not None else None
        out, k = [], 0
        for frame, gate in zip(inputs['frames'], inputs['gate']):
            sample = DataSample(
                metainfo=dict(
                    frame_index=frame.index,
                    timestamp=frame.timestamp,
                    read_time=frame.read_time,
                    accepted=gate['accepted'],
                    reason=gate['reason'],
                    out_of_contact=gate['out_of_contact'],
                    quality=gate['quality']))
            if gate['accepted']:
                sample.set_pred_score(torch.from_numpy(probs[k]))
                k += 1
            out.append(sample)
        return out

    def visualize(self,
                  inputs: List[Frame],
                  preds: List[DataSample],
                  show: bool = False,
                  out_video: Optional[str] = None,
                  fps: Optional[float] = None,
                  writer=None):
        """Write the chunk's frames with the overlay to ``out_video``.

        The running call is that of the frames before (the tracker runs in
        :meth:`postprocess`), so the overlay shows the per-frame result only.

        Returns:
            The video writer (to pass back with the next chunk), or None.
        """
        if not out_video and not show:
            return writer
        from .live_overlay import draw_overlay
        for frame, pred in zip(inputs, preds):
            call = None
            if 'pred_score' in pred:
                p = pred.pred_score.numpy()
                label = int(p.argmax())
                call = dict(
                    pred_class=self.classes[label],
                    confidence=float(p[label]),
                    uncertain=False)
            img = draw_overlay(frame.image, call, pred.metainfo, age=0.0)
            if out_video:
                if writer is None:
                    writer = open_video_writer(out_video, fps or 30.0,
                                               img.shape[1], img.shape[0])
                writer.write(fit_to(img, writer.size))
            if show:
                cv2.imshow('ecdl_mm', img)
                cv2.waitKey(1)
        return writer

    def postprocess(self,
                    preds: List[DataSample],
                    visualization=None,
                    return_datasamples: bool = False) -> dict:
        """Segment the frames into lesions and aggregate them.

        Returns:
            dict: ``frames``: per frame ``frame_index``, ``timestamp``,
            ``accepted``, ``reason``, ``quality``, ``lesion_id``, ``used``
            and for used frames ``pred_scores``, ``pred_label``,
            ``pred_class`` (else None), or the ``DataSample`` list with
            ``return_datasamples``; ``lesions``; ``visualization``.
        """
        tracker = self.tracker
        frames = []
        for s in preds:
            lid = tracker.observe(s.frame_index, s.timestamp, s.out_of_contact)
            used = 'pred_score' in s and lid is not None
            s.set_metainfo(dict(lesion_id=lid, used=used))
            row = dict(
                frame_index=s.frame_index,
                timestamp=s.timestamp,
                accepted=s.accepted,
                reason=s.reason,
                quality=s.quality,
                lesion_id=lid,
                used=used,
                pred_scores=None,
                pred_label=None,
                pred_class=None)
            if used:
                p = s.pred_score.numpy()
                tracker.update(lid, s.frame_index, s.timestamp, p)
                label = int(p.argmax())
                row.update(
                    pred_scores=[float(x) for x in p],
                    pred_label=label,
                    pred_class=self.classes[label])
            frames.append(row)
        tracker.finish()
        lesions = [tracker.lesion_call(lid) for lid in tracker.lesions]
        return dict(
            frames=preds if return_datasamples else frames,
            lesions=lesions,
            visualization=visualization)

    def mark_new_lesion(self) -> None:
        """End the current lesion (explicit mark)."""
        self.tracker.mark()


__all__ = ['StreamInferencer', 'LoadFrame', 'open_video_writer', 'fit_to']
