"""The installed `depth_node` executable started as `ros2 launch` starts it (DESIGN.md 5).

`--ros-args -r __ns:=/camera -r __node:=depth_node --params-file FILE -p k:=v` is exactly what
launch_ros passes; `launch` itself cannot be installed here.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
DOMAIN = str(random.randint(201, 230))

import rclpy  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

EXECUTABLE = shutil.which('depth_node', path=str(Path(sys.executable).parent))


def _start(*ros_args: str) -> subprocess.Popen:
    assert EXECUTABLE, 'depth_node is not installed in this environment (pip install -e .)'
    env = {**os.environ, 'ROS_DOMAIN_ID': DOMAIN, 'PYTHONUNBUFFERED': '1'}
    return subprocess.Popen([EXECUTABLE, '--ros-args', '-r', '__ns:=/camera', '-r',
                             '__node:=depth_node', *ros_args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def peer():
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(DOMAIN))
    node = rclpy.create_node('test_peer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def _spin_until(node, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        node.executor.spin_once(timeout_sec=0.05)
        if condition():
            return True
    return False


def _stop(process: subprocess.Popen) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


@pytest.mark.slow
def test_parameter_file_applies_in_the_launch_namespace(tmp_path, checkpoint, peer):
    params = tmp_path / 'my.yaml'
    params.write_text(yaml.safe_dump({'/**': {'ros__parameters': {
        'max_depth_m': 42.0, 'checkpoint': checkpoint, 'backend': 'torch'}}}))
    process = _start('--params-file', str(params))
    try:
        client = peer.create_client(GetParameters, '/camera/depth_node/get_parameters')
        assert _spin_until(peer, client.service_is_ready, 60), _stop(process)[1]
        # A request sent just after discovery can have its response dropped before the
        # server has matched the client's response reader (DDS); ask again.
        for _ in range(3):
            future = client.call_async(GetParameters.Request(names=['max_depth_m', 'backend']))
            if _spin_until(peer, future.done, 10):
                break
            client.remove_pending_request(future)
        assert future.done(), 'no answer to get_parameters in 3 tries'
        values = future.result().values
        assert values[0].double_value == 42.0 and values[1].string_value == 'torch'
    finally:
        code, output = _stop(process)
    assert code == 0, output
    assert 'Traceback' not in output


@pytest.mark.slow
@pytest.mark.parametrize('args, message', [
    (['-p', 'checkpoint:=/nonexistent/model.pt'], 'checkpoint not found: /nonexistent/model.pt'),
    (['-p', 'max_depth_m:=abc'], "parameter max_depth_m: expected a number, got 'abc'"),
    (['-p', 'max_depth_m:=-5.0'], 'parameter max_depth_m'),
    (['-p', 'min_depth_m:=90.0'], 'min_depth_m (90.0) must be smaller than max_depth_m (80.0)'),
    (['-p', 'backend:=cuda9'], "parameter backend: 'cuda9' is not one of"),
    (['-p', 'backend:=onnxruntime', '-p', f'engine_cache_dir:={__file__}/cache'],
     'cannot be created'),
])
def test_fatal_start_up_errors_exit_non_zero_with_one_line(args, message, checkpoint):
    process = _start('-p', f'checkpoint:={checkpoint}', *args)
    code, output = _stop(process) if process.wait(timeout=60) is None else (
        process.returncode, process.stdout.read())
    assert code == 1, output
    fatal = [line for line in output.splitlines() if 'FATAL' in line]
    assert len(fatal) == 1 and message in fatal[0], output
    assert 'Traceback' not in output


@pytest.mark.slow
def test_shutdown_with_a_frame_in_flight_is_clean(checkpoint, kitti, peer):
    # A large input makes inference slow enough that the Ctrl-C lands during it.
    process = _start('-p', f'checkpoint:={checkpoint}', '-p', 'backend:=torch',
                     '-p', 'input_width:=2048', '-p', 'input_height:=640',
                     '-p', 'input_reliability:=reliable', '-r', 'image:=/camera/image_raw')
    try:
        reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        pub_image = peer.create_publisher(Image, '/camera/image_raw', reliable)
        pub_info = peer.create_publisher(CameraInfo, '/camera/camera_info', reliable)
        assert _spin_until(peer, lambda: pub_image.get_subscription_count() > 0
                           and pub_info.get_subscription_count() > 0, 60), _stop(process)[1]
        image, info = kitti[0]
        image.header.frame_id = 'camera_optical'
        info.header = image.header
        pub_info.publish(info)
        pub_image.publish(image)
        _spin_until(peer, lambda: False, 0.5)
    finally:
        code, output = _stop(process)
    assert code == 0, output
    assert 'unexpected error' not in output and 'Traceback' not in output, output


@pytest.mark.slow
def test_the_installed_node_publishes_fused_depth(kitti, peer):
    """The default node (bundled model, depth_source fused) on three real frames 0.1 s apart:
    the first is the network's, the next are fused, as /diagnostics says."""
    from diagnostic_msgs.msg import DiagnosticArray
    fx, _, cx, _, fy, cy = kitti[0][1].k[:6]
    # The camera's K as fallback too: a loaded machine may deliver the first camera_info late.
    process = _start('-p', 'input_reliability:=reliable', '-r', 'image:=/camera/image_raw',
                     '-p', f'fallback_fx:={fx}', '-p', f'fallback_fy:={fy}',
                     '-p', f'fallback_cx:={cx}', '-p', f'fallback_cy:={cy}')
    try:
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub_image = peer.create_publisher(Image, '/camera/image_raw', reliable)
        pub_info = peer.create_publisher(CameraInfo, '/camera/camera_info', reliable)
        depths: list[Image] = []
        statuses: list[dict[str, str]] = []
        peer.create_subscription(Image, '/camera/depth/image', depths.append, reliable)
        peer.create_subscription(
            DiagnosticArray, '/diagnostics',
            lambda m: statuses.extend({kv.key: kv.value for kv in s.values} for s in m.status),
            10)
        assert _spin_until(peer, lambda: pub_image.get_subscription_count() > 0
                           and pub_info.get_subscription_count() > 0, 60), _stop(process)[1]
        for k, (image, info) in enumerate(kitti):
            image.header.stamp.sec, image.header.stamp.nanosec = 30, k * 100_000_000
            image.header.frame_id = 'camera_optical'
            info.header = image.header
            pub_info.publish(info)
            _spin_until(peer, lambda: False, 0.05)
            pub_image.publish(image)
            assert _spin_until(peer, lambda n=k + 1: len(depths) == n, 60), _stop(process)[1]
        assert _spin_until(peer, lambda: any(s.get('processed') == '3' for s in statuses), 10)
    finally:
        code, output = _stop(process)
    assert code == 0, output
    status = next(s for s in statuses if s.get('processed') == '3')
    assert status['depth_source'] == 'fused' and status['motion_state'] == 'moving', status
    assert status['motion_source'] == 'flow' and float(status['fused_share']) > 0.3, status
    assert [d.header.stamp.nanosec for d in depths] == [0, 100_000_000, 200_000_000]
