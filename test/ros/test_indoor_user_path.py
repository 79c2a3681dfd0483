"""The indoor user's path (scripts/indoor_user_path.sh) end to end on a few real kitchen frames.

A robot's bag of the walk, bag-info, fit with nothing but topic names, evaluate on Kinect depth,
slim + export, and depth_node on the bag with the new model: each step's real output checked.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from svde_training.config import load_config, stored_config

from ..conftest import DATA, REPO


def test_indoor_user_path_from_a_robots_bag_to_the_node(tmp_path):
    out = tmp_path / 'kitchen'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'DOMAIN_ID': '93',
           'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'}
    done = subprocess.run(['bash', str(REPO / 'scripts' / 'indoor_user_path.sh'), str(out),
                           str(DATA / 'indoor_kitchen'), '--set', 'optim.epochs=1', '--set',
                           'optim.steps_per_epoch=1'], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    info = (out / 'bag_info.txt').read_text()
    assert '/camera/image_raw/compressed  [sensor_msgs/msg/CompressedImage]  12 msgs' in info
    assert 'camera camera_optical in base_link from /tf_static' in (out / 'fit.log').read_text()
    run = stored_config(yaml.safe_load((out / 'run' / 'config.yaml').read_text()))
    assert (run.data.base_width, run.data.base_height) == (224, 160)          # 4:3 kept
    assert run.model == load_config(REPO / 'config' / 'recipe.yaml').model    # the recipe
    report = json.loads((out / 'eval' / 'metrics.json').read_text())
    assert report['frames'] == 2 and report['depth_range_m'] == [0.001, 10.0]
    # The bag has odometry, so the defaults warp with it: metric from the first step.
    assert report['scale_source'] == 'poses' and 'median_scale_ratio' in report
    assert (out / 'indoor_kitchen.onnx').is_file()
    assert json.loads((out / 'indoor_kitchen.json').read_text())['input_width'] == 224
    summary = json.loads((out / 'node' / 'summary.json').read_text())
    assert summary['frames_processed'] > 0 and summary['frames_rejected'] == 0
    assert summary['panels_written'] == len(list((out / 'node').glob('panel_*.png'))) > 0
    from rosbags.highlevel import AnyReader
    with AnyReader([out / 'node' / 'outputs']) as reader:
        depth = [c for c in reader.connections if c.topic == '/camera/depth/image'][0]
        msg = reader.deserialize(next(reader.messages([depth]))[2], depth.msgtype)
    assert (msg.encoding, msg.width, msg.height) == ('32FC1', 224, 160)
    # Metres within the node's range (0.5-10 m by default), NaN outside it: one step of training
    # is no model, and its metric depth (known motion from the first step) may all lie outside.
    values = np.frombuffer(msg.data.tobytes(), np.float32)
    inside = values[np.isfinite(values)]
    assert ((inside >= 0.5) & (inside <= 10.0)).all() and not np.isinf(values).any()
    # Nothing is overwritten: a second run into the same folder is refused.
    again = subprocess.run(['bash', str(REPO / 'scripts' / 'indoor_user_path.sh'), str(out)],
                           capture_output=True, text=True, env=env, cwd=REPO)
    assert again.returncode == 2 and 'exists' in again.stderr
