"""The package as ROS users get it: a colcon build installs the expected layout."""
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import REPO


def test_package_xml_declares_runtime_dependencies():
    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'svde_ros'
    depends = {e.text for e in root.findall('exec_depend')}
    for dep in ('rclpy', 'sensor_msgs', 'std_msgs', 'geometry_msgs', 'diagnostic_msgs',
                'python3-numpy', 'python3-opencv', 'python3-yaml', 'python3-torch'):
        assert dep in depends
    assert root.find('export/build_type').text == 'ament_python'


def test_runtime_package_never_imports_training():
    offenders = [str(p) for p in (REPO / 'svde_ros').rglob('*.py')
                 if 'svde_training' in p.read_text()]
    assert not offenders
    rclpy_users = {p.relative_to(REPO / 'svde_ros').parts[0]
                   for p in (REPO / 'svde_ros').rglob('*.py') if 'import rclpy' in p.read_text()
                   or 'from rclpy' in p.read_text()}
    assert rclpy_users <= {'ros'}


@pytest.mark.slow
def test_colcon_build_installs_the_ros_layout(tmp_path):
    colcon = Path(sys.executable).with_name('colcon')
    if not colcon.exists():
        colcon = shutil.which('colcon')
    assert colcon, 'colcon is part of requirements-dev.txt'
    result = subprocess.run(
        [str(colcon), 'build', '--base-paths', str(REPO), '--build-base', str(tmp_path / 'build'),
         '--install-base', str(tmp_path / 'install'), '--event-handlers', 'console_direct-'],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    prefix = tmp_path / 'install' / 'svde_ros'
    assert (prefix / 'share/ament_index/resource_index/packages/svde_ros').is_file()
    assert (prefix / 'share/svde_ros/package.xml').is_file()
    assert (prefix / 'share/svde_ros/config/train_synthetic.yaml').is_file()
    for name in ('svde-train', 'depth_node'):
        executable = prefix / 'lib/svde_ros' / name
        assert executable.is_file() and executable.stat().st_mode & 0o111
    assert (prefix / 'share/svde_ros/launch/depth.launch.py').is_file()
    assert (prefix / 'share/svde_ros/config/depth.yaml').is_file()
    assert (prefix / 'share/svde_ros/config/svde.rviz').is_file()
    assert (prefix / 'share/svde_ros/models/kitti_odometry_small.pt').is_file()
    assert (prefix / 'share/svde_ros/data/demo/kitti_odometry_demo/metadata.yaml').is_file()
    site = list(prefix.glob('lib/python3*/site-packages'))
    assert site and (site[0] / 'svde_ros' / 'model' / 'depth_net.py').is_file()
    assert (site[0] / 'svde_training' / 'trainer.py').is_file()
