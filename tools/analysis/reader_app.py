# Copyright (c) ecdl_mm contributors. All rights reserved.
# The reader-study web app: blinded reads from endoscopists, unassisted and
# then assisted by the model, exported as the readers.csv of reader_study.py.
#
#   python tools/analysis/reader_app.py --demo          # demo lesions
#   python tools/analysis/reader_app.py --study STUDY.yaml [--host H --port P]
#   python tools/analysis/reader_app.py --study STUDY.yaml --export OUT.csv
#
# Prints each reader's link and the admin link, then serves on 127.0.0.1
# (another --host only when readers sit at other machines). The study YAML
# format: ecdl_mm/reader_app/study.py.
import argparse
import os.path as osp

import ecdl_mm  # noqa: F401
from ecdl_mm.reader_app import (ReadStore, StudyError, create_app, load_study,
                                make_server, reader_links, write_demo_study)
from ecdl_mm.utils.cli import run_cli
from ecdl_mm.utils.demo_data import default_demo_root

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description='reader-study web app')
    parser.add_argument('--study', help='study YAML')
    parser.add_argument(
        '--demo',
        action='store_true',
        help='write (or reuse) a study of the demo lesions in --demo-dir '
        'and serve it')
    parser.add_argument(
        '--demo-dir', default=osp.join(REPO, 'work_dirs', 'reader_app_demo'))
    parser.add_argument(
        '--data-root',
        default=default_demo_root(REPO),
        help='demo images (default: ../shared/datasets/ecdl-demo)')
    parser.add_argument(
        '--model',
        help="--demo: a real lesion_predictions.csv of the demo "
        'lesions (default: SIMULATED model output)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8765)
    parser.add_argument(
        '--export', help='write readers.csv to this path and exit')
    parser.add_argument(
        '--check', action='store_true', help='check the study and exit')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.demo:
        args.study = write_demo_study(
            args.demo_dir, args.data_root, model=args.model)
    if not args.study:
        raise StudyError('give --study STUDY.yaml or --demo')
    study = load_study(args.study)
    if args.export:
        ReadStore(study).export_csv(args.export)
        print(f'wrote {args.export}')
        return
    if args.check:
        print(f'{args.study}: {len(study.lesions)} lesions, '
              f'{len(study.readers)} readers, sessions '
              f'{", ".join(study.sessions)}')
        return
    server = make_server(create_app(study), args.host, args.port)
    base = f'http://{args.host}:{server.server_port}'
    print(f'{study.title}: {len(study.lesions)} lesions, db {study.db_path}')
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'WARNING: serving on {args.host}: anyone who can reach it '
              'and has a link can read; prefer 127.0.0.1')
    print('\n'.join(reader_links(study, base)), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    run_cli(main, user_errors=(StudyError, ))
