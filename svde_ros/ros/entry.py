"""Console-script entry points that exit cleanly even on Ctrl-C during start-up.

Importing the node pulls in rclpy and torch, which takes a second or more; a Ctrl-C then (a
user stopping `ros2 launch` early) would print a KeyboardInterrupt traceback from the middle
of an import. These wrappers import lazily and turn it into a quiet exit.
"""
from __future__ import annotations

import sys


def depth_node() -> None:
    """`depth_node` executable: exit code 0, 1 on a fatal start-up error, 130 on early Ctrl-C."""
    try:
        from svde_ros.ros.depth_node import main
    except KeyboardInterrupt:
        sys.exit(130)
    except ImportError as err:
        # rclpy itself or numpy/torch may be missing: no ROS logger yet, so the one line
        # goes to stderr in the ROS log format.
        print(f'[FATAL] [depth_node]: cannot import {err.name or err} ({err}); see the '
              'install section of the svde_ros README', file=sys.stderr)
        sys.exit(1)
    sys.exit(main())
