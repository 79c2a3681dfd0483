"""Start depth_node (and optionally RViz) on a camera.

Example: ros2 launch svde_ros depth.launch.py camera:=/camera image:=image_raw
checkpoint:=/path/model.pt backend:=auto rviz:=true
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """Arguments, the node with its remaps and parameters, and RViz on request."""
    share = get_package_share_directory('svde_ros')
    camera = LaunchConfiguration('camera')
    args = [
        DeclareLaunchArgument('camera', default_value='/camera',
                              description='namespace of the camera driver'),
        DeclareLaunchArgument('image', default_value='image_raw',
                              description='image topic inside the camera namespace'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description='camera_info topic inside the camera namespace'),
        DeclareLaunchArgument('config', default_value=os.path.join(share, 'config',
                                                                   'depth.yaml'),
                              description='parameter file'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description='trained checkpoint (torch backend)'),
        DeclareLaunchArgument('onnx', default_value='',
                              description='exported model (onnxruntime / tensorrt)'),
        DeclareLaunchArgument('backend', default_value='auto',
                              description='auto | tensorrt | torch | onnxruntime'),
        DeclareLaunchArgument('rviz', default_value='false', description='start rviz2'),
        DeclareLaunchArgument('fixed_frame', default_value='camera_optical',
                              description='RViz fixed frame (the camera frame_id)'),
    ]
    node = Node(
        package='svde_ros', executable='depth_node', name='depth_node', namespace=camera,
        parameters=[LaunchConfiguration('config'), {
            'checkpoint': LaunchConfiguration('checkpoint'),
            'onnx': LaunchConfiguration('onnx'),
            'backend': LaunchConfiguration('backend')}],
        remappings=[('image', LaunchConfiguration('image')),
                    ('camera_info', LaunchConfiguration('camera_info'))],
        output='screen')
    rviz = Node(
        package='rviz2', executable='rviz2', name='rviz2',
        arguments=['-d', os.path.join(share, 'config', 'svde.rviz'),
                   '--fixed-frame', LaunchConfiguration('fixed_frame')],
        condition=IfCondition(LaunchConfiguration('rviz')))
    return LaunchDescription([*args, node, rviz])
