"""What `depth.launch.py`'s arguments do to the node and to RViz, as plain functions.

The launch file only reads its arguments and hands them here, so the rules can be tested where
ROS 2's `launch` is not installed (CI) and read in one place:

- An argument left empty ('' = not given) changes nothing: the parameter file decides. A given
  argument overrides the file, because launch_ros applies a node's parameter sources in order
  and the overrides come after the file.
- `camera` is the namespace of the node (and of RViz), so relative topics resolve under it.
- `output_namespace` moves every output under `<camera>/<output_namespace>/` (beside an RGB-D
  driver's own `depth/...` and `points`), for the node and for RViz alike.
"""
from __future__ import annotations

from dataclasses import dataclass

# name -> (default, description). Empty defaults mean "not given: the parameter file decides".
ARGUMENTS: dict[str, tuple[str, str]] = {
    'camera': ('/camera', 'namespace of the camera driver; the node and RViz run in it'),
    'image': ('image_raw', 'image topic inside the camera namespace (image_transport base '
                           'name: with image_transport:=compressed, <image>/compressed is read)'),
    'camera_info': ('camera_info', 'camera_info topic inside the camera namespace'),
    'config': ('', 'parameter file (default: the installed config/depth.yaml)'),
    'checkpoint': ('', 'trained checkpoint (.pt); overrides the file when given'),
    'onnx': ('', 'exported model (.onnx); overrides the file when given'),
    'backend': ('', 'auto | tensorrt | torch | onnxruntime; overrides the file when given'),
    'image_transport': ('', 'raw | compressed; overrides the file\'s `compressed` when given'),
    'input_reliability': ('', 'best_effort | reliable; overrides the file when given'),
    'use_sim_time': ('', 'true | false (true when playing a bag with --clock); overrides the '
                         'file when given'),
    'log_level': ('info', 'debug | info | warn | error | fatal'),
    'output_namespace': ('', 'sub-namespace of every output (e.g. svde: '
                             '<camera>/svde/depth/image), so that they do not clash with an '
                             'RGB-D driver\'s depth/ and points'),
    'rviz': ('false', 'start rviz2 on the outputs'),
    'fixed_frame': ('camera_optical', 'RViz fixed frame: the camera\'s frame_id'),
}

# The node's output topics, relative to its namespace (docs/depth_node.md).
OUTPUT_TOPICS = ('depth/image', 'depth/camera_info', 'depth/colorized', 'moving_mask/image',
                 'moving_mask/camera_info', 'points')
LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')
CHOICES = {'backend': ('auto', 'tensorrt', 'torch', 'onnxruntime'),
           'image_transport': ('raw', 'compressed'),
           'input_reliability': ('best_effort', 'reliable'),
           'use_sim_time': ('true', 'false'), 'log_level': LOG_LEVELS,
           'rviz': ('true', 'false')}


class LaunchArgumentError(ValueError):
    """A launch argument has a value the node cannot take (one line, names the argument)."""


@dataclass(frozen=True)
class LaunchPlan:
    """What launch starts.

    The node's namespace, parameter overrides, remaps and log level, and the remaps RViz needs
    to show those same outputs.
    """

    namespace: str
    overrides: dict[str, object]
    node_remappings: list[tuple[str, str]]
    rviz_remappings: list[tuple[str, str]]
    ros_arguments: list[str]


def check(values: dict[str, str]) -> None:
    """Refuse an unknown argument value in one line (launch prints it and stops)."""
    for name, allowed in CHOICES.items():
        value = values.get(name, '').strip().lower()
        if value and value not in allowed:
            raise LaunchArgumentError(f'{name}:={values[name]!r}: expected one of '
                                      f'{", ".join(allowed)}')


def node_overrides(values: dict[str, str]) -> dict[str, object]:
    """Node parameters set by the arguments that were given (non-empty), typed for the node."""
    check(values)
    given = {k: v.strip() for k, v in values.items() if v.strip()}
    out: dict[str, object] = {k: given[k] for k in ('checkpoint', 'onnx', 'backend',
                                                    'input_reliability') if k in given}
    if 'image_transport' in given:
        out['compressed'] = given['image_transport'].lower() == 'compressed'
    if 'use_sim_time' in given:
        out['use_sim_time'] = given['use_sim_time'].lower() == 'true'
    return out


def output_remappings(output_namespace: str) -> list[tuple[str, str]]:
    """Remaps that move every output under `output_namespace` (none when it is empty)."""
    ns = output_namespace.strip().strip('/')
    return [(topic, f'{ns}/{topic}') for topic in OUTPUT_TOPICS] if ns else []


def plan(values: dict[str, str]) -> LaunchPlan:
    """Everything the launch file starts, from its arguments' values (strings, as performed)."""
    values = {**{k: d for k, (d, _) in ARGUMENTS.items()}, **values}
    outputs = output_remappings(values['output_namespace'])
    inputs = [('image', values['image']), ('camera_info', values['camera_info'])]
    level = values['log_level'].strip().lower() or 'info'
    return LaunchPlan(namespace=values['camera'], overrides=node_overrides(values),
                      node_remappings=inputs + outputs, rviz_remappings=outputs,
                      ros_arguments=['--log-level', level])


def effective_parameters(file_parameters: dict[str, object], values: dict[str, str],
                         ) -> dict[str, object]:
    """The parameters the node ends up with: the file's, then the given arguments' on top.

    This is launch_ros's rule for `parameters=[file, overrides]` (later sources win), written
    out so that tests can state, for every argument, which value wins.
    """
    return {**file_parameters, **plan(values).overrides}
