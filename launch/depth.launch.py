"""Start depth_node (and optionally RViz) on a camera.

    ros2 launch svde_ros depth.launch.py camera:=/camera image:=image_raw rviz:=true
    ros2 launch svde_ros depth.launch.py camera:=/front image_transport:=compressed \
        config:=my_params.yaml use_sim_time:=true

Arguments left empty leave the parameter file in charge; given, they override it. The rules
live in svde_ros/launch_args.py (tested without ROS); `ros2 launch svde_ros depth.launch.py
--show-args` lists every argument, and docs/depth_node.md tabulates them.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from svde_ros import launch_args


def start(context, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201 - launch's API
    """The node and RViz, from the arguments' values."""
    share = get_package_share_directory('svde_ros')
    values = {name: LaunchConfiguration(name).perform(context) for name in launch_args.ARGUMENTS}
    plan = launch_args.plan(values)
    config = values['config'] or os.path.join(share, 'config', 'depth.yaml')
    actions = [Node(
        package='svde_ros', executable='depth_node', name='depth_node',
        namespace=plan.namespace,
        parameters=[config, plan.overrides],
        remappings=plan.node_remappings,
        ros_arguments=plan.ros_arguments,
        output='screen')]
    if values['rviz'].lower() == 'true':
        actions.append(Node(
            package='rviz2', executable='rviz2', name='rviz2', namespace=plan.namespace,
            arguments=['-d', os.path.join(share, 'config', 'svde.rviz'),
                       '--fixed-frame', values['fixed_frame']],
            remappings=plan.rviz_remappings,
            parameters=[{'use_sim_time': plan.overrides.get('use_sim_time', False)}]))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Every argument of launch_args.ARGUMENTS, then the node (and RViz) built from them."""
    arguments = [DeclareLaunchArgument(name, default_value=default, description=text)
                 for name, (default, text) in launch_args.ARGUMENTS.items()]
    return LaunchDescription([*arguments, OpaqueFunction(function=start)])
