# Copyright (c) ecdl_mm contributors. All rights reserved.
# The live EC-NBI CAD: diagnose lesions from a video, a folder of frames, a
# capture device or a stream URL, in real time.
#   python tools/realtime.py CONFIG CKPT --source SRC [--out-video OUT.mp4]
#       [--events OUT.jsonl] [--out-lesions OUT.csv] [--labels LABELS.csv]
#       [--operating-point op.json | --min-confidence X] [--show]
#       [--device cpu|cuda] [--backend eager|torchscript|torchscript-int8|onnx|
#       cuda-graph] [--precision fp32|fp16|bf16] [--preprocess auto|pipeline|
#       device]
# SRC: a video file, a folder of frames, 0 or /dev/video0, rtsp://... .
# Exit status: 0 at the end of the source, 1 when the source was lost or the
# model failed, 130 on Ctrl-C; in every case the outputs hold what was done.
import argparse
import os.path as osp
import signal
import sys

import ecdl_mm  # noqa: F401  registers components, safe checkpoint loading
from ecdl_mm.deploy import GPUOnlyError
from ecdl_mm.evaluation.operating_point import OperatingPointError
from ecdl_mm.inference.options import add_backend_options
from ecdl_mm.live import FrameSource, LiveSession, StreamInferencer
from ecdl_mm.live.frame_source import SourceError
from ecdl_mm.live.live_session import read_labels
from ecdl_mm.utils.cli import renamed_option, run_cli
from ecdl_mm.utils.provenance import collect_provenance, write_sidecar


def parse_args():
    parser = argparse.ArgumentParser(
        description='Live CAD: lesion diagnosis from a video stream')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--source',
        required=True,
        help='video file, frame folder, device or URL')
    parser.add_argument('--out-video', help='annotated video (.mp4/.avi)')
    parser.add_argument(
        '--events',
        help='events.jsonl (one line per frame, '
        'lesion and fault)')
    parser.add_argument(
        '--out-lesions',
        help='lesions.csv to write (the columns of '
        'lesion_predictions.csv)')
    renamed_option(parser, '--lesions', '--out-lesions')
    parser.add_argument(
        '--labels',
        help='CSV lesion_id,gt_class: ground '
        'truth for lesions.csv')
    parser.add_argument(
        '--operating-point',
        help='operating-point JSON '
        '(calibration, min_confidence, min_images)')
    parser.add_argument(
        '--min-confidence',
        type=float,
        default=0.5,
        help='least lesion confidence without an operating '
        'point (default 0.5)')
    parser.add_argument(
        '--min-frames',
        type=int,
        default=3,
        help='least diagnosed frames of a lesion without an '
        'operating point (default 3)')
    parser.add_argument(
        '--show',
        action='store_true',
        help='show a window (key n: new lesion, q: quit)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    add_backend_options(parser)
    parser.add_argument(
        '--threads', type=int, default=None, help='CPU threads of the model')
    parser.add_argument(
        '--no-pace',
        action='store_true',
        help='read a file as fast as possible instead of at '
        'its frame rate')
    parser.add_argument(
        '--gate-overlap',
        choices=['auto', 'on', 'off'],
        default='auto',
        help='hand each frame to the model before the quality gate and '
        'drop the results of rejected frames (auto: when the model is on a '
        'GPU, where the two then overlap)')
    parser.add_argument(
        '--max-reconnects',
        type=int,
        default=5,
        help='reopenings of a live source that stopped '
        '(default 5, back-off 0.5 s doubling to 4 s)')
    parser.add_argument(
        '--backoff',
        type=float,
        default=0.5,
        help='first reconnect wait, seconds (default 0.5)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.show:
        import os
        if not (os.environ.get('DISPLAY')
                or os.environ.get('WAYLAND_DISPLAY')):
            print('realtime.py: --show: no display; running headless')
            args.show = False
    labels = read_labels(args.labels) if args.labels else None
    inferencer = StreamInferencer(
        args.config,
        args.checkpoint,
        device=args.device,
        operating_point=args.operating_point,
        min_confidence=args.min_confidence,
        min_frames=args.min_frames,
        backend=args.backend,
        precision=args.precision,
        preprocess=args.preprocess,
        num_threads=args.threads)
    source = FrameSource(
        args.source, max_reconnects=args.max_reconnects, backoff=args.backoff)
    session = LiveSession(
        inferencer,
        source,
        out_video=args.out_video,
        events=args.events,
        lesions_csv=args.out_lesions,
        labels=labels,
        pace=not args.no_pace,
        show=args.show,
        log=lambda line: print(line, flush=True),
        overlap_gate=dict(auto=None, on=True, off=False)[args.gate_overlap])
    signal.signal(signal.SIGINT,
                  lambda *_: session.request_stop('interrupted (SIGINT)'))
    summary = session.run()
    provenance = collect_provenance(
        config=args.config,
        checkpoint=args.checkpoint,
        inputs=dict(source=args.source) if osp.isfile(args.source) else None)
    for out in (args.events, args.out_lesions, args.out_video):
        if out and osp.isfile(out):
            write_sidecar(out, provenance)
    c = summary['counts']
    print(
        f"done: {summary['status']}; {c.get('read', 0)} frames, "
        f"{c.get('used', 0)} diagnosed, {summary['lesions']} lesions "
        f"({summary['diagnosed_lesions']} diagnosed), latency p50 "
        f"{summary['latency_ms_p50']} ms p99 {summary['latency_ms_p99']} "
        f"ms, {summary['late_frames']} late output frames",
        flush=True)
    if summary['status'] in ('source_lost', 'model_error'):
        print(f"realtime.py: error: {summary['reason']}", file=sys.stderr)
        return 1
    if summary['status'] == 'interrupted':
        print(
            f"realtime.py: {summary['reason']}; outputs hold the "
            f"{c.get('read', 0)} frames read",
            file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(
        run_cli(
            main,
            user_errors=(SourceError, OperatingPointError, GPUOnlyError)))
