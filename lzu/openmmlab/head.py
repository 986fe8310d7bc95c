"""FCOS3D head whose predictions are never rescaled a second time.

mmdet3d 1.4's val/test loops call ``predict(..., rescale=True)``. With
``rescale`` the head divides the predicted 2-D centres by ``scale_factor``
*and then* lifts them to 3-D with ``cam2img`` -- but ``Resize3D`` (baselines)
and the LZU zoom (``LZUFCOSMono3D``) have already scaled ``cam2img`` to the
resized frame, so the correction would be applied twice and every depth-derived
coordinate would be off by ``1 / s``. 3-D boxes in the camera frame do not
depend on the image scale, so the right thing is to never rescale. The paper's
code added the same head for the same reason.
"""

from mmdet3d.models.dense_heads import FCOSMono3DHead
from mmdet3d.registry import MODELS

__all__ = ["FCOSMono3DHeadNoRescale"]


@MODELS.register_module()
class FCOSMono3DHeadNoRescale(FCOSMono3DHead):
    """``FCOSMono3DHead`` that ignores ``rescale`` (see module docstring)."""

    def predict_by_feat(self, *args, rescale=False, **kwargs):
        return super().predict_by_feat(*args, rescale=False, **kwargs)
