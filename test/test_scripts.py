"""Every kept benchmark, calibration tool and experiment still starts (none of them rots)."""
import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPTS = sorted(p for folder in ('benchmarks', 'experiments')
                 for p in (REPO / folder).glob('*.py') if p.name != 'shared_data.py')


def test_the_script_folders_hold_what_docs_say():
    names = {p.name for p in SCRIPTS}
    assert {'inference.py', 'node_latency.py', 'train_step.py', 'bag_read.py',
            'real_masks.py', 'spimo_curve.py', 'stage2_probe.py'} <= names
    assert 'seeded_ablation.py' not in names        # `svde-train ablate` replaces it


@pytest.mark.parametrize('script', SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_help(script):
    done = subprocess.run([sys.executable, str(script), '--help'], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'usage:' in done.stdout
