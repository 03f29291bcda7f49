# Copyright (c) ecdl_mm contributors. All rights reserved.
from .comparison_report import auc_difference_figure, build_comparison_report
from .html import Cell, HtmlReport, figure_png, thumbnail_jpeg
from .lesion_report import (build_lesion_report, enable_lesion_report,
                            lesion_out_dirs, write_lesion_report,
                            write_lesion_reports)
from .reader_report import build_reader_report, reader_roc_figure

__all__ = [
    'Cell', 'HtmlReport', 'figure_png', 'thumbnail_jpeg',
    'build_lesion_report', 'write_lesion_report', 'enable_lesion_report',
    'write_lesion_reports', 'lesion_out_dirs', 'build_comparison_report',
    'auc_difference_figure', 'build_reader_report', 'reader_roc_figure'
]
