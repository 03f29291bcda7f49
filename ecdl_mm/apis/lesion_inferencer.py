import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.model import BaseModel

from mmpretrain.apis import ImageClassificationInferencer, get_model
from mmpretrain.apis.base import ModelType
from mmpretrain.registry import TRANSFORMS
from ..datasets.ecnbi_dataset import IMG_EXTENSIONS
from ..utils.checkpoint import load_model_checkpoint
from ..utils.threads import set_inference_threads
from ..evaluation.metrics.lesion_metric import LesionMetric


class LesionInferencer(ImageClassificationInferencer):
    """One diagnosis per lesion from the images of each lesion.

    Inputs are paths: an image (a lesion of one image), a lesion folder
    (images directly inside, or in its ``Images/`` sub-folder, as in the
    EC-DL layout) or any folder of lesion folders (searched recursively, e.g.
    a whole ``<class>/<lesion>/Images`` tree). The images of one lesion are run
    through the config's test pipeline (its own loading transform included,
    so any size and grayscale input are handled as in testing), batched
    together, and their softmax scores aggregated as in
    :class:`ecdl_mm.evaluation.LesionMetric`.

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
        aggregation (str): 'mean', 'vote' or 'max'. Defaults to 'mean'.
        num_threads (int, optional): CPU threads for inference (intra-op;
            inter-op is set to 1). Defaults to None (torch's default).

    Example:
        >>> from ecdl_mm.apis import LesionInferencer
        >>> inferencer = LesionInferencer('configs/ecdl/xxx.py', 'epoch_10.pth')
        >>> results = inferencer(['path/to/lesion_folder'], batch_size=16)
        >>> results[0]['pred_class'], results[0]['probs']
    """

    def __init__(self,
                 model: ModelType,
                 pretrained: Union[bool, str] = True,
                 device: Union[str, torch.device, None] = None,
                 classes: Optional[Sequence[str]] = None,
                 aggregation: str = 'mean',
                 num_threads: Optional[int] = None,
                 **kwargs) -> None:
        if num_threads is not None:
            set_inference_threads(num_threads)
        if aggregation not in ('mean', 'vote', 'max'):
            raise ValueError(f'aggregation={aggregation!r} must be one of '
                             "('mean', 'vote', 'max')")
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
        self.aggregation = aggregation

    def _init_pipeline(self, cfg: Config) -> Callable:
        # Keep the loading transform (LoadImageFromFile or a faster one): the
        # pipeline then reads files exactly as at test time.
        pipeline = cfg.test_dataloader.dataset.pipeline
        if not pipeline or 'Load' not in pipeline[0]['type']:
            raise ValueError('the test pipeline must start with an image '
                             f'loading transform, got {pipeline[:1]}')
        return Compose([TRANSFORMS.build(t) for t in pipeline])

    @staticmethod
    def find_lesions(paths: Union[str, Sequence[str]],
                     extensions: Sequence[str] = IMG_EXTENSIONS
                     ) -> 'OrderedDict[str, dict]':
        """Group the images under ``paths`` by lesion.

        Args:
            paths (str | Sequence[str]): Images, lesion folders or folders of
                lesion folders.
            extensions (Sequence[str]): Image file extensions.

        Returns:
            OrderedDict: lesion id to ``dict(path=..., images=[...])``. The id
            of a lesion found under a folder is its path relative to that
            folder (``adenomas/2``); a lesion folder given directly, or an
            image given directly, is named by its base name.

        Raises:
            FileNotFoundError: For a path that does not exist.
            ValueError: For a folder without any image.
        """
        if isinstance(paths, str):
            paths = [paths]
        lesions = OrderedDict()

        def add(lesion_id, lesion_dir, images):
            if lesion_id in lesions and lesions[lesion_id]['path'] != \
                    lesion_dir:
                lesion_id = lesion_dir  # same name from two inputs
            entry = lesions.setdefault(lesion_id,
                                       dict(path=lesion_dir, images=[]))
            entry['images'].extend(i for i in images
                                   if i not in entry['images'])

        exts = tuple(e.lower() for e in extensions)
        for path in paths:
            path = osp.normpath(path)
            if osp.isfile(path):
                add(osp.basename(path), path, [path])
                continue
            if not osp.isdir(path):
                raise FileNotFoundError(f'{path} does not exist')
            found = False
            for cur, dirs, files in os.walk(path):
                dirs.sort()
                images = [
                    osp.join(cur, f) for f in sorted(files)
                    if osp.splitext(f)[1].lower() in exts
                ]
                if not images:
                    continue
                found = True
                lesion_dir = osp.dirname(cur) \
                    if osp.basename(cur) == 'Images' else cur
                rel = osp.relpath(lesion_dir, path)
                lesion_id = osp.basename(osp.abspath(lesion_dir)) \
                    if rel == '.' or rel.startswith('..') else rel
                add(lesion_id, lesion_dir, images)
            if not found:
                raise ValueError(
                    f'no image with extension in {exts} under {path}')
        return lesions

    def _infer_images(self, images: List[str], batch_size: int) -> np.ndarray:
        scores = []
        for start in range(0, len(images), batch_size):
            batch = []
            for path in images[start:start + batch_size]:
                try:
                    batch.append(self.pipeline(dict(img_path=path)))
                except Exception as e:
                    raise ValueError(
                        f'cannot read image {path}: {e}') from e
            with torch.inference_mode():
                preds = self.model.test_step(default_collate(batch))
            scores.extend(p.pred_score.float().cpu().numpy() for p in preds)
        return np.stack(scores)

    def __call__(self,
                 inputs: Union[str, Sequence[str]],
                 batch_size: int = 16,
                 show_progress: bool = True) -> List[dict]:
        """Diagnose every lesion found in ``inputs``.

        Args:
            inputs (str | Sequence[str]): See :meth:`find_lesions`.
            batch_size (int): Most images of one lesion per forward pass.
                Defaults to 16.
            show_progress (bool): Show a progress bar over lesions.
                Defaults to True.

        Returns:
            list[dict]: Per lesion: ``lesion_id``, ``path``, ``num_images``,
            ``pred_label``, ``pred_class``, ``pred_score``, ``probs``
            (class name to aggregated probability) and ``images`` (per image:
            ``img_path``, ``pred_label``, ``pred_class``, ``probs``).
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f'batch_size={batch_size!r} must be a positive integer')
        lesions = self.find_lesions(inputs)
        items = list(lesions.items())
        if show_progress:
            from mmengine.utils import track_iter_progress
            items = track_iter_progress(items)
        results = []
        for lesion_id, entry in items:
            scores = self._infer_images(entry['images'], batch_size)
            classes = self.classes or [
                f'class_{i}' for i in range(scores.shape[1])
            ]
            _, agg, pred, _ = LesionMetric.aggregate(
                scores, [lesion_id] * len(scores), self.aggregation)
            label = int(pred[0])
            results.append(
                dict(
                    lesion_id=lesion_id,
                    path=entry['path'],
                    num_images=len(scores),
                    pred_label=label,
                    pred_class=classes[label],
                    pred_score=float(agg[0, label]),
                    probs={c: float(p)
                           for c, p in zip(classes, agg[0])},
                    images=[
                        dict(
                            img_path=path,
                            pred_label=int(s.argmax()),
                            pred_class=classes[int(s.argmax())],
                            probs={c: float(p)
                                   for c, p in zip(classes, s)})
                        for path, s in zip(entry['images'], scores)
                    ]))
        return results

    @staticmethod
    def dump_csv(results: List[dict], path: str) -> None:
        """Write one row per lesion: ids, image count, probabilities,
        prediction."""
        import pandas as pd
        rows = []
        for r in results:
            row: Dict[str, object] = OrderedDict(
                lesion_id=r['lesion_id'],
                path=r['path'],
                num_images=r['num_images'])
            row.update({f'prob_{c}': p for c, p in r['probs'].items()})
            row.update(pred_label=r['pred_label'], pred_class=r['pred_class'])
            rows.append(row)
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        pd.DataFrame(rows).to_csv(path, index=False)

    @staticmethod
    def dump_json(results: List[dict], path: str) -> None:
        """Write the full results (per lesion and per image) as JSON."""
        if osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(results, f, indent=2)
