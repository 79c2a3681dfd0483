"""svde_ros: self-supervised single-view depth for ROS 2 (runtime side).

Importable without rclpy or any training-only dependency; rclpy lives in `svde_ros.ros` only.
"""

__version__ = '0.1.0'
