"""Motion geometry: what a camera's own motion tells about the scene, from two frames.

One home for the flow, the ego-motion, triangulation, fusion with the network's depth and the
motion mask, so that the node, the benchmarks and training compute each of them one way:

- `flow`: dense optical flow (OpenCV DIS) with the forward-backward check;
- `ego_motion`: the camera's motion as one explicit state (first_frame, still, only_turning,
  moving, uncertain), chosen among still, only turning (a rotation's homography), general
  (essential matrix), the odometry and the previous frame's motion;
- `triangulation`: depth per pixel from the flow and the motion, with its uncertainty;
- `fusion`: the triangulated depth blended with the network's in log depth, the network filling
  what geometry cannot see;
- `mask`: pixels that move against the static scene the depth and the motion explain;
- `stream`: `MotionGeometry`, the stateful per-frame pipeline the node runs.

Conventions: `T_prev_cur` (4x4) maps points of the current camera (optical frame, +z forward)
into the earlier one; K is at the depth's resolution; depth is in the model's unit, metric only
where the step's length came from odometry. No rclpy here.
"""
