"""camera_info synchronisation without DDS: matching by stamp, waiting, steady K, fallback."""
import threading
from types import SimpleNamespace

import pytest

from svde_ros.ros.camera_sync import CameraSync, FrameRejectedError, stamp_seconds


def _stamp(t: float) -> SimpleNamespace:
    return SimpleNamespace(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)))


def _info(t: float, fx: float = 100.0, width: int = 64, height: int = 48,
          frame: str = 'cam') -> SimpleNamespace:
    return SimpleNamespace(header=SimpleNamespace(stamp=_stamp(t), frame_id=frame),
                           width=width, height=height, distortion_model='plumb_bob',
                           k=[fx, 0, 32, 0, fx, 24, 0, 0, 1], d=[0.0] * 5, p=[0.0] * 12)


def _sync(publishers: int = 0, fallback=None, wait_s: float = 0.2) -> CameraSync:
    return CameraSync(0.05, False, fallback, lambda: publishers, wait_s)


def test_stamp_seconds():
    assert stamp_seconds(_stamp(12.25)) == pytest.approx(12.25)


def test_the_camera_info_closest_in_time_is_used():
    sync = _sync()
    for t, fx in ((1.0, 100.0), (1.1, 110.0), (1.2, 120.0)):
        sync.add(_info(t, fx))
    assert sync.model_for(_stamp(1.09), 64, 48).intrinsics.fx == 110.0
    assert sync.reused == 0 and sync.fallbacks == 0


def test_a_late_camera_info_is_waited_for_while_a_publisher_is_connected():
    # The wait ends when the info arrives; its limit is only there for a lost message, so a
    # loaded machine that runs the timer late still gets the late info (fx 120), not a reuse.
    sync = _sync(publishers=1, wait_s=60.0)
    sync.add(_info(1.0, 100.0))
    threading.Timer(0.1, lambda: sync.add(_info(2.0, 120.0))).start()
    assert sync.model_for(_stamp(2.0), 64, 48).intrinsics.fx == 120.0
    assert sync.reused == 0


def test_a_steady_camera_reuses_its_newest_info_and_a_changing_one_rejects():
    sync = _sync()
    sync.add(_info(1.0))
    sync.add(_info(1.1))
    assert sync.model_for(_stamp(5.0), 64, 48).intrinsics.fx == 100.0 and sync.reused == 1
    sync.add(_info(1.2, fx=150.0))                          # zoomed: K changed recently
    with pytest.raises(FrameRejectedError, match='K has changed recently') as err:
        sync.model_for(_stamp(5.0), 64, 48)
    assert err.value.kind == 'k_changed'


def test_fallback_and_rejections():
    with pytest.raises(FrameRejectedError, match='no fallback') as err:
        _sync().model_for(_stamp(1.0), 64, 48)
    assert err.value.kind == 'no_info'
    sync = _sync(fallback=(50.0, 50.0, 32.0, 24.0))
    model = sync.model_for(_stamp(1.0), 64, 48)
    assert (model.intrinsics.fx, model.intrinsics.width) == (50.0, 64) and sync.fallbacks == 1
    sync = _sync()
    sync.add(_info(1.0, width=128, height=96))
    with pytest.raises(FrameRejectedError, match='camera_info is 128x96 but the image is 64x48'):
        sync.model_for(_stamp(1.0), 64, 48)
    sync = _sync()
    sync.add(_info(1.0, fx=0.0))
    with pytest.raises(FrameRejectedError) as err:
        sync.model_for(_stamp(1.0), 64, 48)
    assert err.value.kind == 'bad_k'


def test_undistortion_maps_are_built_once_per_camera():
    sync = _sync()
    info = _info(1.0)
    info.d = [-0.2, 0.0, 0.0, 0.0, 0.0]
    sync.add(info)
    first = sync.model_for(_stamp(1.0), 64, 48)
    assert first.maps is not None and sync.model_for(_stamp(1.0), 64, 48) is first
