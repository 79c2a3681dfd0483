"""The networks: ONE definition shared by training, export and the torch backend."""
from svde_ros.model.config import ModelConfig
from svde_ros.model.depth_net import OUTPUT_STRIDE, DepthNet, DepthPrediction
from svde_ros.model.pose_net import PoseNet
from svde_ros.model.quantization import AquaNetHead, FixedLevels, expected_disparity

__all__ = ['OUTPUT_STRIDE', 'AquaNetHead', 'DepthNet', 'DepthPrediction', 'FixedLevels',
           'ModelConfig', 'PoseNet', 'expected_disparity']
