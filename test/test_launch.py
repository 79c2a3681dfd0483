"""The launch file's rules, checked everywhere (ROS 2 `launch` is not installable in CI).

depth.launch.py hands its arguments to svde_ros.launch_args; these tests hold that module to
what a ROS user expects: an argument left empty never beats the parameter file, a given one
always does, the namespace and output remaps reach RViz too. test/ros/test_launch_run.py runs
the launch file itself where `launch` imports.
"""
import ast

import pytest
import yaml

from svde_ros import launch_args
from svde_ros.ros.params import SPEC

from .conftest import REPO

LAUNCH = REPO / 'launch' / 'depth.launch.py'
# For every argument that sets a node parameter: the parameter, a value to give, and what the
# node then gets.
GIVEN = {'checkpoint': ('checkpoint', '/models/mine.pt', '/models/mine.pt'),
         'onnx': ('onnx', '/models/mine.onnx', '/models/mine.onnx'),
         'backend': ('backend', 'torch', 'torch'),
         'image_transport': ('compressed', 'compressed', True),
         'input_reliability': ('input_reliability', 'reliable', 'reliable'),
         'use_sim_time': ('use_sim_time', 'true', True)}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def _file_parameters(path) -> dict:
    return yaml.safe_load(path.read_text())['/**']['ros__parameters']


def test_launch_file_runs_the_installed_node_by_the_tested_rules():
    tree = ast.parse(LAUNCH.read_text())
    setup = (REPO / 'setup.py').read_text()
    ours = [n for n in _calls(tree, 'Node') if any(
        k.arg == 'package' and getattr(k.value, 'value', None) == 'svde_ros'
        for k in n.keywords)]
    assert len(ours) == 1
    executable = next(k.value.value for k in ours[0].keywords if k.arg == 'executable')
    assert f"'{executable} = " in setup
    assert _calls(tree, 'plan'), 'the launch file must take its rules from launch_args.plan'
    assert _calls(tree, 'DeclareLaunchArgument') and 'launch_args.ARGUMENTS' in LAUNCH.read_text()


@pytest.mark.parametrize('argument', sorted(GIVEN))
def test_an_argument_overrides_the_parameter_file_only_when_given(argument, tmp_path):
    parameter, value, expected = GIVEN[argument]
    assert parameter in SPEC or parameter == 'use_sim_time'
    shipped = _file_parameters(REPO / 'config' / 'depth.yaml')
    users = {**shipped, 'checkpoint': '/file/model.pt', 'compressed': True,
             'input_reliability': 'reliable', 'backend': 'onnxruntime', 'use_sim_time': True}
    for file_parameters in (shipped, users):
        not_given = launch_args.effective_parameters(file_parameters, {argument: ''})
        assert not_given.get(parameter) == file_parameters.get(parameter)
        assert launch_args.effective_parameters(file_parameters, {argument: value})[
            parameter] == expected
    # Nothing given at all: the file decides every parameter.
    assert launch_args.effective_parameters(users, {}) == users


def test_every_launch_argument_is_covered_and_documented():
    setting = set(GIVEN)
    topology = {'camera', 'image', 'camera_info', 'config', 'log_level', 'output_namespace',
                'rviz', 'fixed_frame'}
    assert set(launch_args.ARGUMENTS) == setting | topology
    table = (REPO / 'docs' / 'depth_node.md').read_text()
    for name in launch_args.ARGUMENTS:
        assert f'| `{name}` |' in table, f'{name} missing from the table in docs/depth_node.md'


def test_namespace_remaps_and_log_level_reach_node_and_rviz():
    plan = launch_args.plan({'camera': '/other', 'image': 'image_rect',
                             'output_namespace': 'svde', 'log_level': 'debug'})
    assert plan.namespace == '/other'
    assert ('image', 'image_rect') in plan.node_remappings
    assert ('depth/image', 'svde/depth/image') in plan.node_remappings
    assert plan.rviz_remappings == [r for r in plan.node_remappings
                                    if r[0] in launch_args.OUTPUT_TOPICS]
    assert plan.ros_arguments == ['--log-level', 'debug']
    assert launch_args.plan({}).rviz_remappings == []


def test_a_bad_argument_value_is_one_clear_error():
    with pytest.raises(launch_args.LaunchArgumentError, match='image_transport'):
        launch_args.plan({'image_transport': 'theora'})


def test_rviz_topics_are_relative_outputs_and_the_mask_display_is_off():
    rviz = yaml.safe_load((REPO / 'config' / 'svde.rviz').read_text())
    displays = rviz['Visualization Manager']['Displays']
    topics = {d['Topic']['Value'] for d in displays}
    assert topics == {'depth/colorized', 'moving_mask/image', 'points'}
    assert topics <= set(launch_args.OUTPUT_TOPICS)
    assert all(d['Topic']['Reliability Policy'] == 'Reliable' for d in displays)
    mask = next(d for d in displays if d['Topic']['Value'] == 'moving_mask/image')
    assert mask['Enabled'] is False       # subscribing runs SPIMO on every frame


def test_config_files_the_launch_refers_to_exist():
    text = LAUNCH.read_text()
    for name in ('depth.yaml', 'svde.rviz'):
        assert f"'{name}'" in text
        assert (REPO / 'config' / name).is_file()
