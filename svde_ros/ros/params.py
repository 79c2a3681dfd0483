"""Parameters of depth_node: declared once with descriptors, read once into DepthNodeParams."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from svde_ros.motion.mask import MotionMaskConfig

BACKENDS = ('auto', 'tensorrt', 'torch', 'onnxruntime')
MASK_METHODS = ('motion', 'spimo', 'both')
DEPTH_SOURCES = ('network', 'fused')
# The depth that measured best on real video with ground truth (benchmarks/fused_depth.py).
DEFAULT_DEPTH_SOURCE = 'fused'
# The method that measured best on real movers (benchmarks/real_masks.py, docs/results).
DEFAULT_MASK_METHOD = 'motion'


@dataclass(frozen=True)
class DepthNodeParams:
    """Values of every parameter (see the module docstring of depth_node for meanings)."""

    checkpoint: str
    onnx: str
    backend: str
    precision: str
    engine_cache_dir: str
    inference_threads: int
    input_width: int
    input_height: int
    compressed: bool
    input_rectified: str
    depth_encoding: str
    min_depth_m: float
    max_depth_m: float
    depth_source: str
    mask_method: str
    motion_threshold: float
    motion_interval_s: float
    use_odometry: bool
    camera_in_base: tuple[float, ...]
    spimo_enabled: bool
    spimo_threshold: float
    spimo_every_n: int
    cloud_enabled: bool
    cloud_decimation: int
    cloud_organized: bool
    cloud_rgb: bool
    fallback_fx: float
    fallback_fy: float
    fallback_cx: float
    fallback_cy: float
    camera_info_max_delay_s: float
    input_reliability: str
    input_depth: int
    output_reliability: str
    output_depth: int


# name -> (default, description, read_only, range)
SPEC: dict[str, tuple[object, str, bool, tuple[float, float] | None]] = {
    'checkpoint': ('', 'trained checkpoint (.pt) for the torch backend', True, None),
    'onnx': ('', 'exported model (.onnx + .json) for onnxruntime/tensorrt', True, None),
    'backend': ('auto', f'one of {", ".join(BACKENDS)}', True, None),
    'precision': ('fp16', 'fp16 or fp32 (tensorrt, torch on CUDA)', True, None),
    'engine_cache_dir': ('', 'cache of TensorRT engines (default: ~/.cache/svde_ros/engines) '
                         'and of the ONNX export of a checkpoint that onnxruntime runs (default: '
                         '~/.cache/svde_ros)', True, None),
    'inference_threads': (0, 'CPU threads of onnxruntime / torch (0 = all cores but one)',
                          True, (0, 256)),
    'input_width': (0, 'network input width, multiple of 32 (torch backend; 0 = as trained; '
                    'an exported model has its own)', True, (0, 4096)),
    'input_height': (0, 'network input height, multiple of 32 (see input_width)', True,
                     (0, 4096)),
    'compressed': (False, 'subscribe to image/compressed (CompressedImage) instead of image',
                   True, None),
    'input_rectified': ('auto', 'auto (by topic name: image_rect* is rectified), true (K from '
                        'P, frames used as they are) or false (undistorted with D)', True,
                        None),
    'depth_encoding': ('32FC1', '32FC1 (metres, NaN invalid) or 16UC1 (mm, 0 invalid)', True,
                       None),
    'min_depth_m': (0.5, 'depths below are invalid; near end of the colour scale', False,
                    (0.0, 1000.0)),
    'max_depth_m': (80.0, 'depths above are invalid; far end of the colour scale', False,
                    (0.0, 1000.0)),
    'depth_source': (DEFAULT_DEPTH_SOURCE, 'network (one frame at a time) or fused (depth '
                     'triangulated from the camera\'s own motion, blended with the network\'s; '
                     'metric with use_odometry; the network\'s at the last known scale while the '
                     'camera is still, only turns or its motion is uncertain)', False, None),
    'mask_method': (DEFAULT_MASK_METHOD, 'moving_mask from motion (the observed flow against '
                    'the flow depth and ego-motion explain), spimo (dispersion under shifted '
                    'positions) or both (a pixel flagged by either)', False, None),
    'motion_threshold': (MotionMaskConfig.threshold, 'motion mask: disagreement, over what a '
                         'static pixel\'s could be in this frame (depth error x parallax + '
                         'flow noise), above which a pixel is moving',
                         False, (0.01, 100.0)),
    'motion_interval_s': (MotionMaskConfig.interval_s, 'compare each frame with the newest '
                          'one at least this much older (older while the camera moves too '
                          'little for parallax, up to 0.5 s): the mask and the fused depth',
                          False, (0.0, 5.0)),
    'use_odometry': (False, 'take the camera\'s motion from nav_msgs/Odometry on `odom` (its '
                     'child frame is the robot base): its length makes the fused depth metric, '
                     'and it says when the robot stands still', True, None),
    'camera_in_base': ([0.0, 0.0, 0.0, -1.5707963, 0.0, -1.5707963], 'the camera\'s optical '
                       'frame in the odometry\'s child frame: x y z (m) roll pitch yaw (rad), '
                       'as a static TF gives it (default: at the base, looking ahead)', True,
                       None),
    'spimo_enabled': (True, 'build the SPIMO graph (mask_method spimo or both need it)', True,
                      None),
    'spimo_threshold': (0.0, 'dispersion above which a pixel is moving (0 = the threshold '
                        'the model file carries, as trained and validated)', False,
                        (0.0, 10.0)),
    'spimo_every_n': (2, 'compute the mask every N-th processed frame (1 = every frame; on '
                      'a CPU the SPIMO passes cost ~1.3x the depth pass)', False, (1, 1000)),
    'cloud_enabled': (True, 'publish points (PointCloud2)', True, None),
    'cloud_decimation': (2, 'keep every N-th pixel in each direction', False, (1, 64)),
    'cloud_organized': (True, 'keep the image grid with NaN points (else drop invalid)', False,
                        None),
    'cloud_rgb': (True, 'add packed rgb to the cloud', False, None),
    'fallback_fx': (0.0, 'K used until camera_info arrives (0 = wait for camera_info)', True,
                    None),
    'fallback_fy': (0.0, 'see fallback_fx', True, None),
    'fallback_cx': (0.0, 'see fallback_fx', True, None),
    'fallback_cy': (0.0, 'see fallback_fx', True, None),
    'camera_info_max_delay_s': (0.5, 'use the newest camera_info within this of the image',
                                False, (0.0, 60.0)),
    'input_reliability': ('best_effort', 'image/camera_info QoS: best_effort or reliable',
                          True, None),
    'input_depth': (2, 'image/camera_info QoS history depth', True, (1, 100)),
    'output_reliability': ('reliable', 'published topics QoS: reliable or best_effort', True,
                           None),
    'output_depth': (2, 'published topics QoS history depth', True, (1, 100)),
}
CHOICES = {'backend': BACKENDS, 'precision': ('fp16', 'fp32'), 'mask_method': MASK_METHODS,
           'depth_source': DEPTH_SOURCES,
           'input_rectified': ('auto', 'true', 'false'),
           'depth_encoding': ('32FC1', '16UC1'),
           'input_reliability': ('best_effort', 'reliable'),
           'output_reliability': ('best_effort', 'reliable')}


def _descriptor(name: str) -> ParameterDescriptor:
    default, text, read_only, bounds = SPEC[name]
    # Float parameters take integers too (`ros2 param set ... max_depth_m 50`, as users type
    # them): dynamic typing lets them through and `coerce` checks and converts every value.
    floating = isinstance(default, float)
    descriptor = ParameterDescriptor(description=text, read_only=read_only,
                                     dynamic_typing=floating)
    if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
        descriptor.integer_range = [IntegerRange(from_value=int(bounds[0]),
                                                 to_value=int(bounds[1]), step=1)]
    elif bounds is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]),
                                                              to_value=float(bounds[1]))]
    return descriptor


def coerce(name: str, value: object) -> object:
    """`value` as parameter `name`'s type, checked against its range and choices.

    Raises:
        ValueError: one line naming the parameter, the value and what it must be.
    """
    default, _text, _read_only, bounds = SPEC[name]
    if isinstance(default, list):
        if not isinstance(value, Sequence) or isinstance(value, (str, bytes)) or \
                len(value) != len(default) or \
                not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f'parameter {name}: expected {len(default)} numbers, got {value!r}')
        return tuple(float(v) for v in value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f'parameter {name}: expected true or false, got {value!r}')
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f'parameter {name}: expected an integer, got {value!r}')
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'parameter {name}: expected a number, got {value!r}')
        value = float(value)
    elif not isinstance(value, str):
        raise ValueError(f'parameter {name}: expected a string, got {value!r}')
    if bounds is not None and not bounds[0] <= value <= bounds[1]:  # type: ignore[operator]
        raise ValueError(f'parameter {name}: {value} is outside [{bounds[0]}, {bounds[1]}]')
    if name in CHOICES and value not in CHOICES[name]:
        raise ValueError(f'parameter {name}: {value!r} is not one of '
                         f'{", ".join(CHOICES[name])}')
    if name in ('input_width', 'input_height') and value % 32:
        raise ValueError(f'parameter {name}: {value} is not a multiple of 32')
    return value


def _consistent(values: dict[str, object]) -> None:
    """Checks across parameters (raises ValueError with the reason)."""
    if values['min_depth_m'] >= values['max_depth_m']:  # type: ignore[operator]
        raise ValueError(f'min_depth_m ({values["min_depth_m"]}) must be smaller than '
                         f'max_depth_m ({values["max_depth_m"]})')


def declare_parameters(node: Node) -> DepthNodeParams:
    """Declare every parameter with its default and descriptor; return their values.

    Raises:
        ValueError: one line naming the parameter whose start-up value is wrong.
    """
    for name, (default, *_rest) in SPEC.items():
        try:
            node.declare_parameter(name, default, _descriptor(name))
        except (ParameterException, ValueError, TypeError) as err:
            raise ValueError(f'parameter {name}: {str(err).splitlines()[0]}') from None
    values = {name: coerce(name, node.get_parameter(name).value) for name in SPEC}
    _consistent(values)
    return DepthNodeParams(**values)  # type: ignore[arg-type]


def validate_update(params: list[Parameter], current: DepthNodeParams,
                    ) -> tuple[SetParametersResult, DepthNodeParams]:
    """Check runtime changes; refuse those that would make the outputs meaningless.

    Returns the result (with the reason when refused) and the parameters as they are then.
    """
    values = {f.name: getattr(current, f.name) for f in fields(current)}
    try:
        values.update({p.name: coerce(p.name, p.value) for p in params if p.name in SPEC})
        _consistent(values)
    except ValueError as err:
        return SetParametersResult(successful=False, reason=str(err)), current
    return SetParametersResult(successful=True), DepthNodeParams(**values)
