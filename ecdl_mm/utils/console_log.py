# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The terminal log of ``tools/`` as a person reads it.

mmengine writes the same stream to the terminal and to the run's log file:
the environment with PyTorch's build flags, the whole config (~400 lines),
the hook order of every stage, one line per parameter for weight decay and
(outside a Runner) three lines per parameter for its initialisation. A demo
run printed 1,900 lines; what mattered was lost in them. Inside
:func:`readable_console_logs` (``run_cli`` of every tool enters it):

* the log file keeps everything; the terminal gets one line for the
  environment, the config and the hook order (naming the log file), one
  line for the per-parameter optimizer options;
* weight initialisation outside a Runner (no log file) is one line per
  top-level module (``backbone``, ``neck``, ``head``) instead of three per
  tensor;
* every warning is shown once per run: once per process, and once per
  pipeline when ``ECDL_SHOWN_WARNINGS`` names a file the processes share
  (``tools/run_pipeline.sh`` sets it); mmengine's own deprecation notices,
  which a user cannot act on, stay in the log file;
* a known state-dict difference (the MAE encoder's final ``ln1`` against the
  classifier's pooled-feature ``ln2``) is explained in one line, other
  mismatches are listed on one line;
* ``GPU number`` (mmengine's name for the number of processes) is not shown
  on a machine without CUDA.

``ECDL_FULL_LOGS=1`` turns all of this off (mmengine's output as is).
"""
import logging
import os
import re
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, List, Optional

from mmengine.dist import master_only

#: mmengine notices a user cannot act on: log file only.
MMENGINE_NOTICES = (
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias of',
    'The prefix is not set in metric class DumpResults',
    'Distributed training is not used, all SyncBatchNorm',
)

#: State-dict differences that are expected: (unexpected keys, missing
#: keys, explanation). Keys are compared without a module prefix.
KNOWN_STATE_DICT_DIFFERENCES = [
    ({'ln1.weight', 'ln1.bias'}, {'ln2.weight', 'ln2.bias'},
     'MAE encoder loaded into a classifier: ln1 (the encoder\'s final norm '
     'over all tokens) is not used and ln2 (the norm of the average-pooled '
     "feature, out_type='avg_featmap') starts fresh, as in mmpretrain's MAE "
     'fine-tuning (expected)'),
]

_STATE_DICT_HEAD = 'The model and loaded state dict do not match exactly'
_ENV_HEAD = 'System environment:'
_shown_warnings = set()


def warning_key(message: str) -> str:
    """What makes two warnings "the same" for :func:`first_time_shown`:
    the text before the first ``': '`` (its kind, without the file names
    and split names that follow), the ``...Warning: `` prefix removed."""
    text = re.sub(r'^\w*Warning: ', '', message.strip())
    head = text.split(': ', 1)[0]
    return ' '.join(head.split())[:200]


def first_time_shown(message: str) -> bool:
    """True the first time a warning of this kind is to be shown in this
    run (then remembered); False after that.

    The run is the process, or all processes given the same file in
    ``ECDL_SHOWN_WARNINGS``.
    """
    key = warning_key(message)
    if key in _shown_warnings:
        return False
    path = os.environ.get('ECDL_SHOWN_WARNINGS')
    if path:
        try:
            with open(path) as f:
                if key in (line.rstrip('\n') for line in f):
                    _shown_warnings.add(key)
                    return False
        except FileNotFoundError:
            pass
        try:
            with open(path, 'a') as f:
                f.write(key + '\n')
        except OSError:
            pass
    _shown_warnings.add(key)
    return True


def _short_list(names: List[str], most: int = 6) -> str:
    shown = ', '.join(names[:most])
    return shown + (f' (+{len(names) - most} more)'
                    if len(names) > most else '')


def _last2(key: str) -> str:
    return '.'.join(key.split('.')[-2:])


def explain_state_dict_message(message: str) -> Optional[str]:
    """One line for mmengine's multi-line "do not match exactly" warning;
    None when ``message`` is not one or has parts other than unexpected /
    missing keys (e.g. a shape table)."""
    if not message.startswith(_STATE_DICT_HEAD):
        return None
    lists: Dict[str, List[str]] = {}
    for line in message.splitlines()[1:]:
        line = line.strip()
        if not line:
            continue
        m = re.match(
            r'(unexpected key|missing keys) in source state_dict: '
            r'(.*)$', line)
        if not m:
            return None
        lists[m.group(1)] = [k.strip() for k in m.group(2).split(',')]
    unexpected = lists.get('unexpected key', [])
    missing = lists.get('missing keys', [])
    for known_unexpected, known_missing, why in KNOWN_STATE_DICT_DIFFERENCES:
        if ({_last2(k)
             for k in unexpected} == known_unexpected
                and {_last2(k)
                     for k in missing} == known_missing):
            return (f'known state-dict difference: {why}; unexpected '
                    f'{", ".join(unexpected)}; missing {", ".join(missing)}')
    parts = []
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected (not used): '
                     f'{_short_list(unexpected)}')
    if missing:
        parts.append(f'{len(missing)} missing (left at their init): '
                     f'{_short_list(missing)}')
    return ('checkpoint and model differ (loaded with strict=False): ' +
            '; '.join(parts))


class _Corrections(logging.Filter):
    """Logger-level: corrections that the log file gets too."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        new = None
        if text.startswith(_STATE_DICT_HEAD):
            new = explain_state_dict_message(text)
        elif _ENV_HEAD in text and 'GPU number:' in text:
            import torch
            if not torch.cuda.is_available():
                new = re.sub(r'GPU number: (\d+)', r'processes: \1 (CPU only)',
                             text)
        if new is not None:
            record.msg, record.args = new, ()
        return True


class ConsoleLogFilter(logging.Filter):
    """Handler-level, on the terminal handler of one MMLogger: the
    summaries of the module docstring.

    Args:
        logger (logging.Logger): The logger (its ``log_file`` is named in
            the summary lines).
        handler (logging.Handler): The terminal handler it filters.
    """

    def __init__(self, logger: logging.Logger, handler: logging.Handler):
        super().__init__()
        self.logger, self.handler = logger, handler
        self.exp_names = set()
        self.pending: 'OrderedDict[str, List[str]]' = OrderedDict()
        self.pending_record: Optional[logging.LogRecord] = None

    def _emit(self, like: logging.LogRecord, text: str) -> None:
        record = logging.makeLogRecord(dict(like.__dict__))
        record.msg, record.args, record.ecdl_summary = text, (), True
        self.handler.handle(record)

    def flush(self) -> None:
        """Show the pending per-parameter summary, if any."""
        if self.pending_record is None:
            return
        like, self.pending_record = self.pending_record, None
        parts = []
        for setting, names in self.pending.items():
            who = f' ({_short_list(names, 2)})' if len(names) <= 2 else ''
            parts.append(f'{setting} for {len(names)} parameters{who}')
        self.pending = OrderedDict()
        self._emit(
            like, 'paramwise_options: ' + '; '.join(parts) +
            self._where(' (each parameter in {})'))

    def _where(self, fmt: str) -> str:
        log_file = getattr(self.logger, 'log_file', None)
        return fmt.format(log_file) if log_file else ''

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, 'ecdl_summary', False):
            return True
        text = record.getMessage()
        m = re.match(r'paramwise_options -- (\S+):(\S+=.*)$', text)
        if m:
            self.pending.setdefault(m.group(2), []).append(m.group(1))
            self.pending_record = record
            return False
        self.flush()
        has_file = bool(getattr(self.logger, 'log_file', None))
        if any(
                text.startswith(n) or text.startswith(f'UserWarning: {n}')
                for n in MMENGINE_NOTICES):
            return not has_file
        if record.levelno == logging.WARNING:
            return first_time_shown(text)
        if text.startswith('Exp name: '):
            seen = text in self.exp_names
            self.exp_names.add(text)
            return not seen
        if not has_file:
            return True
        if _ENV_HEAD in text:
            self._emit(
                record,
                _environment_line(text) +
                self._where(' (full environment in {})'))
            return False
        if text.startswith('Config:\n'):
            self._emit(
                record, f'Config: {text.count(chr(10))} lines, '
                'dumped into the work dir' + self._where(' and written to {}'))
            return False
        if text.startswith('Hooks will be executed in the following order'):
            hooks = OrderedDict.fromkeys(re.findall(r'\)\s+(\w+Hook)', text))
            self._emit(
                record, f'Hooks: {", ".join(hooks)}' +
                self._where(' (order per stage in {})'))
            return False
        return True


def _environment_line(text: str) -> str:
    """One line of mmengine's environment dump: versions, device, seed."""
    env = {}
    for line in text.splitlines():
        m = re.match(r'    ([^:]+): (.*)$', line)
        if m:
            env.setdefault(m.group(1).strip(), m.group(2).strip())
    versions = ', '.join(f'{k} {env[k].split(" ")[0]}'
                         for k in ('Python', 'PyTorch', 'TorchVision',
                                   'MMEngine', 'OpenCV') if k in env)
    if env.get('CUDA available') == 'True':
        gpus = [
            f'{k}: {v}' for k, v in env.items()
            if k.startswith('GPU ') and k != 'GPU number'
        ]
        device = 'CUDA (' + ('; '.join(gpus) or 'available') + ')'
    else:
        device = 'CPU only (CUDA not available)'
    procs = env.get('processes', env.get('GPU number', '?')).split(' ')[0]
    procs = f'{procs} process(es)'
    if env.get('Distributed training') == 'True':
        backend = re.search(r"'backend': '(\w+)'", env.get('dist_cfg', ''))
        procs += (f", distributed ({env.get('Distributed launcher')}"
                  f"{', ' + backend.group(1) if backend else ''})")
    return (f'Environment: {versions}; {device}; {procs}; '
            f'seed {env.get("seed", "?")}')


@master_only
def _dump_init_info_by_module(self) -> None:
    """mmengine's ``BaseModule._dump_init_info`` outside a Runner: one
    line per top-level module instead of three per tensor (with a log
    file, mmengine's own, which writes only to the file)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    if any(isinstance(h, logging.FileHandler) for h in logger.handlers):
        return _ORIGINAL['dump_init_info'](self)
    groups: 'OrderedDict[str, OrderedDict]' = OrderedDict()
    for name, param in self.named_parameters():
        info = ' '.join(
            str(self._params_init_info[param]['init_info']).split())
        if info.startswith('The value is the same before and after'):
            info = 'not changed by init_weights (constructor default)'
        module, _, rest = name.partition('.')
        groups.setdefault(module, OrderedDict()).setdefault(info,
                                                            []).append(rest)
    for module, infos in groups.items():
        total = sum(len(v) for v in infos.values())
        parts = [
            f'{info} ({len(names)}' +
            (f': {", ".join(names)})'
             if len(infos) > 1 and len(names) <= 3 else ')')
            for info, names in infos.items()
        ]
        logger.info(f'init {module} ({total} tensors): ' + '; '.join(parts))


_ORIGINAL: dict = {}


def _attach(logger) -> None:
    if any(isinstance(f, _Corrections) for f in logger.filters):
        return
    logger.addFilter(_Corrections())
    for handler in logger.handlers:
        if (isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)):
            handler.addFilter(ConsoleLogFilter(logger, handler))


def _detach(logger) -> None:
    for f in [f for f in logger.filters if isinstance(f, _Corrections)]:
        logger.removeFilter(f)
    for handler in logger.handlers:
        for f in [
                f for f in handler.filters if isinstance(f, ConsoleLogFilter)
        ]:
            f.flush()
            handler.removeFilter(f)


@contextmanager
def readable_console_logs():
    """Inside, every MMLogger's terminal output is summarised as the module
    docstring says; on exit mmengine's behaviour is restored."""
    if os.environ.get('ECDL_FULL_LOGS', '') not in ('', '0'):
        yield
        return
    from mmengine.logging import MMLogger
    from mmengine.model import BaseModule
    _shown_warnings.clear()  # a new run (one tools/ call)
    original_init = MMLogger.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        _attach(self)

    MMLogger.__init__ = __init__
    for logger in list(MMLogger._instance_dict.values()):
        _attach(logger)
    patch_init = hasattr(BaseModule, '_dump_init_info')
    if patch_init:
        _ORIGINAL['dump_init_info'] = BaseModule._dump_init_info
        BaseModule._dump_init_info = _dump_init_info_by_module
    try:
        yield
    finally:
        MMLogger.__init__ = original_init
        if patch_init:
            BaseModule._dump_init_info = _ORIGINAL.pop('dump_init_info')
        for logger in list(MMLogger._instance_dict.values()):
            _detach(logger)
