"""Static checks of the launch file and RViz config (`launch` is not installable here)."""
import ast

import yaml

from svde_ros.ros.params import SPEC

from .conftest import REPO

LAUNCH = REPO / 'launch' / 'depth.launch.py'


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def test_launch_file_starts_an_installed_executable_with_declared_parameters():
    tree = ast.parse(LAUNCH.read_text())
    setup = (REPO / 'setup.py').read_text()
    nodes = _calls(tree, 'Node')
    ours = [n for n in nodes if any(k.arg == 'package' and k.value.value == 'svde_ros'
                                    for k in n.keywords)]
    assert len(ours) == 1
    executable = next(k.value.value for k in ours[0].keywords if k.arg == 'executable')
    assert f"'{executable} = " in setup
    params = next(k.value for k in ours[0].keywords if k.arg == 'parameters')
    overrides = [e for e in params.elts if isinstance(e, ast.Dict)][0]
    assert {k.value for k in overrides.keys} <= set(SPEC)
    declared = {c.args[0].value for c in _calls(tree, 'DeclareLaunchArgument')}
    used = {c.args[0].value for c in _calls(tree, 'LaunchConfiguration')}
    assert used <= declared
    assert {'camera', 'image', 'config', 'backend', 'rviz'} <= declared


def test_config_files_the_launch_refers_to_exist():
    text = LAUNCH.read_text()
    for name in ('depth.yaml', 'svde.rviz'):
        assert f"'{name}'" in text
        assert (REPO / 'config' / name).is_file()
    rviz = yaml.safe_load((REPO / 'config' / 'svde.rviz').read_text())
    topics = {d['Topic']['Value'] for d in rviz['Visualization Manager']['Displays']}
    assert topics == {'/camera/depth/colorized', '/camera/moving_mask', '/camera/points'}
    assert all(d['Topic']['Reliability Policy'] == 'Reliable'
               for d in rviz['Visualization Manager']['Displays'])
