# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The live overlay: an uncertain call reads as uncertain at a glance."""
import importlib
import os.path as osp

import cv2
import numpy as np
import pytest

import ecdl_mm

# ecdl_mm/live/ after the re-layering, ecdl_mm/apis/ before it
_LIVE = 'live' if osp.isdir(osp.join(osp.dirname(ecdl_mm.__file__),
                                     'live')) else 'apis'
draw_overlay = importlib.import_module(
    f'ecdl_mm.{_LIVE}.live_overlay').draw_overlay


@pytest.fixture
def texts(monkeypatch):
    """Every text the overlay draws: ``{text: (scale, thickness, y)}``."""
    drawn = {}
    real = cv2.putText

    def spy(img, text, org, font, scale, colour, thickness, *args):
        drawn[text] = (scale, thickness, org[1])
        return real(img, text, org, font, scale, colour, thickness, *args)

    monkeypatch.setattr(cv2, 'putText', spy)
    return drawn


@pytest.mark.parametrize('width', [640, 1160])
def test_uncertain_is_as_large_as_the_class(texts, width):
    # issue 28: the class was drawn large and "UNCERTAIN" small, beside the
    # age of the answer
    frame = np.full((int(width * 0.8), width, 3), 128, np.uint8)
    call = dict(pred_class='adenomas', confidence=0.41, uncertain=True)
    out = draw_overlay(frame, call, dict(accepted=True), 0.031)
    assert texts['UNCERTAIN'][:2] == texts['adenomas'][:2]
    assert texts['UNCERTAIN'][2] > texts['adenomas'][2]  # its own line
    assert texts['answer 31 ms old'][0] < texts['UNCERTAIN'][0]
    # every text lies inside the black panel; the frame below is untouched
    panel_bottom = np.where((out[:, 0] == 0).all(1))[0].max() + 1
    assert max(y for _, _, y in texts.values()) < panel_bottom
    assert (out[panel_bottom:] == 128).all()
    assert (frame == 128).all()  # the input is not modified

    texts.clear()
    draw_overlay(frame, dict(call, uncertain=False), dict(accepted=True), None)
    assert 'UNCERTAIN' not in texts and 'adenomas' in texts
