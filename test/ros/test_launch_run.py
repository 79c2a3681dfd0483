"""`ros2 launch svde_ros depth.launch.py` run for real, through launch.LaunchService.

ROS 2's `launch` and `launch_ros` are pure Python but not on the package registries CI uses, so
this test skips where they do not import (test/test_launch.py checks the argument rules
everywhere). On a ROS install, or with the ros2/launch and ros2/launch_ros sources on
PYTHONPATH, it installs the package layout into an ament prefix, launches

    depth.launch.py camera:=/other image_transport:=compressed config:=<file naming a model>

plays the demo bag into /other and checks what a user would: the depth and its camera_info
arrive under /other, the model is the one the file names, and RViz's topics resolve there.
"""
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip('launch', reason='ROS 2 launch is not installed (a ROS install has it)')
pytest.importorskip('launch_ros', reason='ROS 2 launch_ros is not installed')

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
DOMAIN = random.randint(231, 232)

import rclpy  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from svde_ros.resources import demo_bag  # noqa: E402
from svde_ros.ros.bag_io import RELIABLE, play_bag  # noqa: E402

from ..conftest import REPO  # noqa: E402
from .test_node_process import _stop as stop_process  # noqa: E402

RUNNER = '''
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
service = LaunchService()
arguments = dict(a.split(':=', 1) for a in sys.argv[2:])
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=arguments.items()))
sys.exit(service.run())
'''


def _ament_prefix(root: Path) -> Path:
    """The package as colcon installs it (share/, lib/<pkg>/, the index marker), by links."""
    share = root / 'share' / 'svde_ros'
    share.mkdir(parents=True)
    for folder in ('launch', 'config', 'models', 'data'):
        (share / folder).symlink_to(REPO / folder)
    index = root / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'svde_ros').touch()
    lib = root / 'lib' / 'svde_ros'
    lib.mkdir(parents=True)
    (lib / 'depth_node').symlink_to(Path(sys.executable).with_name('depth_node'))
    return root


@pytest.mark.slow
def test_launch_with_namespace_transport_and_parameter_file(tmp_path, checkpoint):
    prefix = _ament_prefix(tmp_path / 'install')
    params = tmp_path / 'my_params.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
        'checkpoint': checkpoint, 'max_depth_m': 42.0}}}))
    env = {**os.environ, 'ROS_DOMAIN_ID': str(DOMAIN), 'PYTHONUNBUFFERED': '1',
           'AMENT_PREFIX_PATH': f'{prefix}:{os.environ.get("AMENT_PREFIX_PATH", "")}',
           'XDG_CACHE_HOME': str(tmp_path / 'cache')}
    launch = subprocess.Popen(
        [sys.executable, '-c', RUNNER, str(prefix / 'share/svde_ros/launch/depth.launch.py'),
         'camera:=/other', 'image_transport:=compressed', f'config:={params}'],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    peer = rclpy.create_node('launch_test_peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(peer)
    received: dict[str, list] = {'image': [], 'info': []}
    peer.create_subscription(Image, '/other/depth/image', received['image'].append, RELIABLE)
    peer.create_subscription(CameraInfo, '/other/depth/camera_info', received['info'].append,
                             RELIABLE)
    stop = threading.Event()
    player = threading.Thread(target=play_bag, args=(peer, demo_bag(), {
        '/camera/image_raw/compressed': '/other/image_raw/compressed',
        '/camera/camera_info': '/other/camera_info'}, 1.0, stop, 60.0), daemon=True)
    try:
        player.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (received['image'] and received['info']):
            executor.spin_once(timeout_sec=0.1)
            assert launch.poll() is None, launch.communicate()[0]
        assert received['image'] and received['info'], 'no depth under /other'
        image, info = received['image'][0], received['info'][0]
        assert (info.width, info.height) == (image.width, image.height)
        assert info.header.frame_id == image.header.frame_id

        client = peer.create_client(GetParameters, '/other/depth_node/get_parameters')
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(GetParameters.Request(
            names=['checkpoint', 'compressed', 'max_depth_m']))
        executor.spin_until_future_complete(future, timeout_sec=10)
        values = future.result().values
        assert values[0].string_value == checkpoint            # the file's model ...
        assert values[1].bool_value is True                    # ... the argument's transport
        assert values[2].double_value == 42.0

        rviz = yaml.safe_load((REPO / 'config' / 'svde.rviz').read_text())
        published = {name for name, _ in peer.get_topic_names_and_types()}
        for display in rviz['Visualization Manager']['Displays']:
            topic = display['Topic']['Value']
            assert not topic.startswith('/'), topic
            assert f'/other/{topic}' in published, (topic, sorted(published))
    finally:
        stop.set()
        player.join(timeout=10)
        executor.shutdown()
        peer.destroy_node()
        rclpy.try_shutdown(context=context)
        _, output = stop_process(launch)
    assert 'using the bundled demo model' not in output, output
