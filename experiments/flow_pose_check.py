"""The images' own geometry against the truth, per training pair, before training on it.

`pose_source: flow` trains with each pair's rotation, and direction of travel, from the flow's
geometry (svde_training/flow_poses.py: DIS flow at 640 px, then the essential matrix, still and
only-turning states). This measures, at the frame gaps training uses, the rotation error (the
angle of R_geometry^T R_true) and the direction error (the angle between the directions of
travel) against each clip's poses or GPS/IMU, with the states counted. With `--posenet CKPT`
(a training checkpoint, e.g. the kitchen's PoseNet arm) PoseNet's errors on the same pairs are
printed beside.

    python experiments/flow_pose_check.py [--gaps 1,2,3,5] [--png docs/flow_pose_check.png]
        [--posenet runs/kitchen_posenet_s0/checkpoints/last.pt]
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from shared_data import SHARED_DATA, require  # noqa: E402

from svde_ros.geometry import rotation_angle_deg  # noqa: E402
from svde_ros.model.pose_net import temporal_pose  # noqa: E402
from svde_ros.motion.ego_motion import MOVING, angle_deg  # noqa: E402
from svde_training.data.clip import Clip  # noqa: E402
from svde_training.data.dataset import to_base  # noqa: E402
from svde_training.data.folder import FolderClip  # noqa: E402
from svde_training.data.kitti import KittiOdometryClip, KittiRawClip, oxts_poses  # noqa: E402
from svde_training.flow_poses import pair_geometry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class OxtsClip:
    """A KITTI raw drive whose poses come from its GPS/IMU (oxts)."""

    def __init__(self, drive: Path) -> None:
        self.raw = KittiRawClip(require(drive))
        self.poses = oxts_poses(drive)
        self.name = self.raw.name

    def __len__(self) -> int:
        return len(self.raw)

    def image(self, index: int) -> np.ndarray:
        return self.raw.image(index)

    def intrinsics(self, index: int):  # noqa: ANN201
        return self.raw.intrinsics(index)

    def pose(self, index: int) -> np.ndarray:
        return self.poses[index]


def clips() -> dict[str, tuple[Clip | OxtsClip, int]]:
    """Each clip with poses by name, and the frame step between its pairs. targets."""
    return {
        'kitti_odometry_clip': (KittiOdometryClip(require(SHARED_DATA / 'kitti_odometry_clip'),
                                                  'image_l'), 2),
        'kitti_odometry_07': (KittiOdometryClip(require(SHARED_DATA / 'kitti_odometry_07'),
                                                'image_l'), 4),
        'kitti_raw_0009 (oxts)': (OxtsClip(SHARED_DATA / 'kitti_raw_0009/2011_09_26/'
                                           '2011_09_26_drive_0009_sync'), 2),
        'indoor_kitchen': (FolderClip(require(SHARED_DATA / 'indoor_kitchen/video'),
                                      REPO / 'config/indoor_kitchen_camera.yaml',
                                      SHARED_DATA / 'indoor_kitchen/poses.txt'), 8),
    }


@torch.no_grad()
def posenet_motion(pose_net: torch.nn.Module, clip: Clip | OxtsClip, t: int, n: int,
                   size: tuple[int, int]) -> np.ndarray:
    """PoseNet's T_n_t of a pair at the training size (width, height)."""
    frames = [torch.from_numpy(to_base(clip, i, *size)[0].transpose(2, 0, 1))[None]  # type: ignore[arg-type]
              for i in (t, n)]
    cam = torch.tensor([clip.intrinsics(t).camera_channels()], dtype=torch.float32)
    return temporal_pose(pose_net, frames[0], frames[1], cam, n - t)[0].numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gaps', default='1,2,3,5')
    parser.add_argument('--png', type=Path)
    parser.add_argument('--posenet', type=Path, help='a training checkpoint whose PoseNet is '
                        'scored on the same pairs')
    args = parser.parse_args(argv)
    gaps = [int(g) for g in args.gaps.split(',')]
    pose_net, size = None, (0, 0)
    if args.posenet:
        from svde_training.scale import load_pose_net
        state = torch.load(args.posenet, map_location='cpu', weights_only=False)
        pose_net = load_pose_net(state)
        size = (state['config']['data']['base_width'], state['config']['data']['base_height'])
    print('| clip | gap (frames) | pairs | true rotation (deg, median) | rotation error median / '
          'p90 (deg) | direction error median (deg) | states |'
          + (' PoseNet rotation error median (deg) |' if pose_net else ''))
    print('|---|---|---|---|---|---|---|' + ('---|' if pose_net else ''))
    errors: dict[str, list[tuple[float, float]]] = {}
    for name, (clip, step) in clips().items():
        for gap in gaps:
            turn: list[float] = []
            rot: list[float] = []
            direction: list[float] = []
            net_rot: list[float] = []
            states: Counter = Counter()
            for t in range(gap, len(clip), step):
                n = t - gap
                pose_t, pose_n = clip.pose(t), clip.pose(n)
                assert pose_t is not None and pose_n is not None
                truth = np.linalg.inv(pose_n) @ pose_t
                entry = pair_geometry(clip, t, n)  # type: ignore[arg-type]
                states[entry['state']] += 1
                turn.append(rotation_angle_deg(truth[:3, :3]))
                if 'R' in entry:
                    R = np.array(entry['R'])
                    rot.append(rotation_angle_deg(R.T @ truth[:3, :3]))
                if entry['state'] == MOVING and np.linalg.norm(truth[:3, 3]) > 1e-3:
                    direction.append(angle_deg(np.array(entry['direction']), truth[:3, 3]))
                if pose_net is not None and name == 'indoor_kitchen':
                    T = posenet_motion(pose_net, clip, t, n, size)
                    net_rot.append(rotation_angle_deg(T[:3, :3].T @ truth[:3, :3]))
            errors.setdefault(name, []).extend((gap, e) for e in rot)
            p90 = float(np.percentile(rot, 90)) if rot else float('nan')
            print(f'| {name} | {gap} | {sum(states.values())} | {np.median(turn):.2f} | '
                  f'{np.median(rot) if rot else float("nan"):.3f} / {p90:.3f} | '
                  f'{np.median(direction) if direction else float("nan"):.1f} | '
                  + ', '.join(f'{k} {v}' for k, v in sorted(states.items())) + ' |'
                  + (f' {np.median(net_rot):.3f} |' if net_rot else (' - |' if pose_net else '')),
                  flush=True)
    if args.png:
        from svde_training.plots import line_plot
        from svde_training.preview import write_png
        series = {}
        for name, pairs in errors.items():
            values = np.sort([e for _, e in pairs])
            if len(values):
                share = np.arange(1, len(values) + 1) / len(values)
                series[name] = list(zip(values.tolist(), share.tolist()))
        write_png(args.png, line_plot(series, 'rotation error of the images\' geometry, all '
                                      'gaps (cumulative share of pairs)', 'degrees',
                                      'share of pairs', size=(760, 440)))
        print(f'wrote {args.png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
