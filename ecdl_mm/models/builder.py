# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The one way ecdl_mm builds a model from a config and loads its weights.

Every inference path (the inferencers, the live CAD, the operating-point
fit, the exporter, ``tools/visualize_mae.py``,
``tools/analysis/plot_features.py``) builds its model here, so a config's
top-level ``data_preprocessor``, ``--cfg-options`` checking and the
allow-listed, fit-checked checkpoint loading are the same everywhere.
"""
import copy
import os
from typing import Optional, Union

from ..utils.cfg_options import merge_cfg_options
from ..utils.checkpoint import load_model_checkpoint


def load_model(config,
               checkpoint: Union[str, os.PathLike, bool, None] = None,
               *,
               cfg_options: Optional[dict] = None,
               device: str = 'cpu',
               index_weights: bool = False,
               **model_kwargs):
    """Build the model of ``config`` and load ``checkpoint`` into it.

    The model is built by mmpretrain's ``get_model`` (the config's
    top-level ``data_preprocessor`` fills the model's, as mmengine's Runner
    does; ``model._config`` and ``model._dataset_meta`` are set), never with
    its own weight loading: the checkpoint goes through
    :func:`ecdl_mm.utils.load_model_checkpoint`, which loads weights only
    (allow-listed classes), refuses a file that leaves any weight of the
    model unset, and keeps the checkpoint's class names.

    Args:
        config (str | os.PathLike | Config | str): A config file, a
            ``Config``, or a model name of mmpretrain's model index.
        checkpoint (str | os.PathLike | bool, optional): Any mmengine scheme
            (local path, URL, ...). True: the config's ``load_from``, if any
            (the inferencers' ``pretrained=True``). None or False keeps the
            built (random) weights.
        cfg_options (dict, optional): Dotted keys merged into the config,
            checked first (:func:`ecdl_mm.utils.merge_cfg_options`).
        device (str): Where the model goes. Defaults to ``'cpu'``.
        index_weights (bool): With ``checkpoint=True`` and no ``load_from``,
            the published weights of a model name of mmpretrain's model
            index. Defaults to False.
        **model_kwargs: Merged into ``config.model`` (``get_model``'s
            keyword arguments).

    Returns:
        torch.nn.Module: The model in eval mode.
    """
    from mmengine.config import Config
    from mmpretrain.apis import get_model
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, os.PathLike) or (isinstance(config, str)
                                             and os.path.isfile(config)):
        cfg = Config.fromfile(os.fspath(config))
    else:
        cfg = config  # a model name: get_model looks it up
    if cfg_options:
        if not isinstance(cfg, Config):
            raise ValueError(f'cfg_options need a config, not the model name '
                             f'{config!r}')
        merge_cfg_options(cfg, cfg_options)
    model = get_model(cfg, pretrained=False, device=device, **model_kwargs)
    if checkpoint is True:
        checkpoint = model._config.get('load_from')
        if not checkpoint and index_weights:
            checkpoint = getattr(model._metainfo, 'weights', None)
    if checkpoint is not None and checkpoint is not False:
        load_model_checkpoint(model, os.fspath(checkpoint))
    return model.eval()
