# EC-DL classifier: ECViT-B/16 (no class token, fixed 1-D sinusoid table,
# mean pooling + fc_norm) under mmpretrain's LinearClsHead.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ECViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='avg_featmap'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=768,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)],
        topk=(1, )),
)
