"""Small mono-3D inputs for CPU tests: one image, intrinsics, 2-D and 3-D ground truth."""

import os.path as osp
import pickle

import numpy as np
import torch
from mmdet3d.structures import CameraInstance3DBoxes, Det3DDataSample
from mmengine.structures import InstanceData

# nuScenes CAM_FRONT intrinsics, scaled to the test image
NUSC_K = np.array([[1266.417, 0.0, 816.267], [0.0, 1266.417, 491.507], [0.0, 0.0, 1.0]])


def project(points, cam2img):
    """(N, 3) camera-frame points -> (N, 2) pixels."""
    uvw = points @ np.asarray(cam2img)[:3, :3].T
    return uvw[:, :2] / uvw[:, 2:3]


def make_sample(img_hw=(180, 320), with_gt=True):
    """One ``Det3DDataSample`` for an image of ``img_hw``, intrinsics scaled to it.

    Ground truth: two cars in front of the camera (camera frame: x right,
    y down, z forward; boxes are (x, y, z, l, h, w, yaw, vx, vz) with the
    bottom-centre origin, as mmdet3d stores them).
    """
    s = img_hw[1] / 1600.0
    cam2img = NUSC_K.copy()
    cam2img[:2] *= s
    meta = dict(
        img_shape=tuple(img_hw),
        ori_shape=tuple(img_hw),
        pad_shape=tuple(img_hw),
        batch_input_shape=tuple(img_hw),
        scale_factor=(1.0, 1.0),
        cam2img=cam2img.tolist(),
        box_type_3d=CameraInstance3DBoxes,
        box_mode_3d=None,
    )
    sample = Det3DDataSample(metainfo=meta)
    if not with_gt:
        return sample
    boxes = torch.tensor(
        [
            [-2.0, 1.5, 15.0, 4.5, 1.6, 1.9, 0.3, 0.0, 0.0],
            [3.0, 1.4, 25.0, 4.2, 1.5, 1.8, -1.2, 0.5, 0.0],
        ]
    )
    bboxes_3d = CameraInstance3DBoxes(boxes, box_dim=9)
    centers = bboxes_3d.gravity_center.numpy()
    centers_2d = project(centers, cam2img)
    corners = bboxes_3d.corners.numpy().reshape(-1, 3)
    uv = project(corners, cam2img).reshape(2, 8, 2)
    bboxes = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1)
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=bboxes_3d,
        labels_3d=torch.tensor([0, 0]),
        centers_2d=torch.from_numpy(centers_2d).float(),
        depths=torch.from_numpy(centers[:, 2]).float(),
        attr_labels=torch.tensor([5, 5]),
    )
    sample.gt_instances = InstanceData(
        bboxes=torch.from_numpy(bboxes).float(), labels=torch.tensor([0, 0])
    )
    return sample


def make_batch(img_hw=(180, 320), batch=1, with_gt=True, seed=0, pad_to=32):
    """Normalised-looking images ``(B, 3, Hp, Wp)``, padded like Det3DDataPreprocessor."""
    g = torch.Generator().manual_seed(seed)
    h, w = img_hw
    hp, wp = -(-h // pad_to) * pad_to, -(-w // pad_to) * pad_to
    imgs = torch.zeros(batch, 3, hp, wp)
    imgs[:, :, :h, :w] = torch.randn(batch, 3, h, w, generator=g) * 50
    samples = [make_sample(img_hw, with_gt) for _ in range(batch)]
    for sample in samples:
        sample.set_metainfo(dict(pad_shape=(hp, wp), batch_input_shape=(hp, wp)))
    return {"imgs": imgs}, samples


def build_model(config_path, **model_overrides):
    """Build the model of a config with random init (no download). Returns (model, cfg)."""
    from lzu.apis.runtime import build_model as build
    from lzu.apis.runtime import load_config

    cfg = load_config(config_path)
    cfg.model.update(model_overrides)
    return build(cfg), cfg


CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT",
           "CAM_BACK_RIGHT")


def load_pkl(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def gt_as_predictions(data_list, noise=0.0, seed=0):
    """Per-camera results in the format NuScenesMetric.process stores, from cam_instances."""
    from mmdet3d.structures import CameraInstance3DBoxes
    from mmengine.structures import InstanceData

    rng = np.random.default_rng(seed)
    results = []
    for frame_idx, info in enumerate(data_list):
        for cam_idx, cam in enumerate(CAMERAS):
            insts = info["cam_instances"][cam]
            boxes = np.array([i["bbox_3d"] + i["velocity"] for i in insts],
                             dtype=np.float32).reshape(-1, 9)
            boxes[:, 0] += noise * rng.standard_normal(len(boxes)).astype(np.float32)
            pred = InstanceData()
            pred.bboxes_3d = CameraInstance3DBoxes(torch.from_numpy(boxes), box_dim=9)
            pred.scores_3d = torch.ones(len(boxes))
            pred.labels_3d = torch.tensor([i["bbox_label_3d"] for i in insts], dtype=torch.long)
            pred.attr_labels = torch.tensor([i["attr_label"] for i in insts], dtype=torch.long)
            results.append({"pred_instances_3d": pred, "pred_instances": InstanceData(),
                            "sample_idx": frame_idx * len(CAMERAS) + cam_idx})
    return results


def nds_of(results, root, tmp_path):
    from lzu.openmmlab.metric import DeviceAgnosticNuScenesMetric

    metric = DeviceAgnosticNuScenesMetric(
        data_root=root, ann_file=osp.join(root, "nuscenes_infos_val.pkl"),
        modality=dict(use_camera=True, use_lidar=False), jsonfile_prefix=str(tmp_path))
    metric.dataset_meta = {"classes": ["car", "truck", "trailer", "bus", "construction_vehicle",
                                       "bicycle", "motorcycle", "pedestrian", "traffic_cone",
                                       "barrier"], "version": "v1.0-mini"}
    out = metric.compute_metrics(results)
    return out["pred_instances_3d_NuScenes/NDS"], out
