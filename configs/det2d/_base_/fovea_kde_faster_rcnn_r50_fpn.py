# FOVEA's training path (./fovea_faster_rcnn_r50_fpn.py) with FOVEA's released schedule, batch
# and initialisation (./fovea_released.py); a child sets model.grid_generator.
_base_ = ['./fovea_faster_rcnn_r50_fpn.py', './fovea_released.py']

train_dataloader = dict(batch_size=4)  # FOVEA: 2 per GPU on 2 GPUs
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4))
param_scheduler = {{_base_.fovea_param_scheduler}}
train_cfg = {{_base_.fovea_train_cfg}}
auto_scale_lr = dict(enable=False, base_batch_size=4)
load_from = {{_base_.fovea_load_from}}
