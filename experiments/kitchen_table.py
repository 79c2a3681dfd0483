"""The kitchen runs of experiments/pose_source_kitchen.sh, side by side, per seed.

Each run's figure is the mean of its last three evaluations on indoor_kitchen/eval (as
experiments/component_table.py does for eval_mix), with the row-flattened AbsRel and the
within-row correlation that say how much of the depth comes from the image.

    python experiments/kitchen_table.py [--arms flow,flow_rotation,posenet,poses] [--seeds 0,1]
    python experiments/kitchen_table.py --setup bag --arms flow,posenet   # the bag's runs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from component_table import read_rows

TAIL = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arms', default='flow,flow_rotation,posenet,poses')
    parser.add_argument('--seeds', default='0,1')
    parser.add_argument('--runs', type=Path, default=Path('runs'))
    parser.add_argument('--setup', choices=('video', 'bag'), default='video',
                        help="pose_source_kitchen.sh's setup (runs kitchen_* or kitchenbag_*)")
    args = parser.parse_args(argv)
    print('| arm | AbsRel, last 3 (per seed) | row-flattened | within-row corr | steps |')
    print('|---|---|---|---|---|')
    for arm in args.arms.split(','):
        cells: dict[str, list[str]] = {'abs': [], 'flat': [], 'corr': [], 'steps': []}
        for seed in args.seeds.split(','):
            prefix = 'kitchen' if args.setup == 'video' else 'kitchenbag'
            rows = [r for r in read_rows(args.runs / f'{prefix}_{arm}_s{seed}')
                    if r.get('epoch', 0) > 0 and 'eval_abs_rel' in r]
            if not rows:
                for key in cells:
                    cells[key].append('n/a')
                continue
            tail = rows[-TAIL:]
            for key, column in (('abs', 'eval_abs_rel'), ('flat', 'eval_row_flat_abs_rel'),
                                ('corr', 'eval_row_corr')):
                cells[key].append(f'{np.mean([r.get(column, np.nan) for r in tail]):.3f}')
            cells['steps'].append(str(int(rows[-1]['step'])))
        print(f'| {arm} | ' + ' | '.join(' / '.join(cells[k]) for k in
                                        ('abs', 'flat', 'corr', 'steps')) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
