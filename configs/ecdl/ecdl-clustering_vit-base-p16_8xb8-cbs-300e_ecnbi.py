# As ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py with class-balanced
# sampling (not in the release): mmengine's ClassBalancedDataset repeats the
# images of rare classes (repeat factor max(1, sqrt(oversample_thr / class
# frequency)) per epoch), so invasive cancers are seen about as often as
# adenomas. An epoch then has more iterations.
_base_ = ['./ecdl-clustering_vit-base-p16_8xb8-300e_ecnbi.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ClassBalancedDataset',
        oversample_thr=0.5,
        dataset={{_base_.train_dataloader.dataset}}))
