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
        # The release initialises its head with trunc_normal(std 0.02) and
        # then multiplies weight and bias by init_scale 0.001: weights
        # ~ N(0, 2e-5^2) (the +-2 truncation is 1e5 std away), bias 0.
        init_cfg=[
            dict(
                type='TruncNormal', layer='Linear', std=0.02 * 0.001, bias=0.)
        ],
        topk=(1, )),
)
