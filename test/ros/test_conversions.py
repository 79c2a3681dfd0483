import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from svde_ros.geometry import Intrinsics, points_from_depth
from svde_ros.ros.image_conversions import (
    ImageConversionError,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_rgb8,
)
from svde_ros.ros.pointcloud import cloud_to_array, depth_to_cloud


def _padded(array: np.ndarray, encoding: str, pad: int) -> Image:
    msg = array_to_image(array, encoding)
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    msg.data = np.hstack([rows, np.full((msg.height, pad), 7, np.uint8)]).tobytes()
    msg.step += pad
    return msg


@pytest.mark.parametrize('encoding, order', [('rgb8', [0, 1, 2]), ('bgr8', [2, 1, 0])])
def test_colour_encodings_with_row_padding(encoding, order):
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    msg = _padded(np.ascontiguousarray(rgb[..., order]), encoding, pad=3)
    assert np.array_equal(image_to_rgb8(msg), rgb)


def test_mono_bgra_and_big_endian_mono16():
    mono = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(image_to_rgb8(array_to_image(mono, 'mono8'))[..., 1], mono)
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2] = 200
    assert (image_to_rgb8(array_to_image(bgra, 'bgra8'))[..., 0] == 200).all()
    msg = array_to_image(np.full((2, 3), 0x1234, np.uint16), '16UC1')
    msg.is_bigendian = 1
    msg.data = np.full((2, 3), 0x1234, '>u2').tobytes()
    assert (image_to_array(msg) == 0x1234).all()


@pytest.mark.parametrize('mutate, message, kind', [
    (lambda m: setattr(m, 'encoding', 'yuv422_yuy2'), "unsupported encoding 'yuv422_yuy2'",
     'encoding'),
    (lambda m: (setattr(m, 'width', 0), setattr(m, 'height', 0)), 'empty image 0x0', 'empty'),
    (lambda m: setattr(m, 'step', 5), 'shorter than a row', 'step'),
    (lambda m: setattr(m, 'data', b'\x00' * 10), 'short of step x height', 'short_data'),
])
def test_bad_images_are_rejected_with_a_reason(mutate, message, kind):
    msg = array_to_image(np.zeros((4, 6, 3), np.uint8), 'rgb8')
    mutate(msg)
    with pytest.raises(ImageConversionError, match=message) as caught:
        image_to_rgb8(msg)
    assert caught.value.kind == kind   # the node throttles its warnings per kind


def test_depth_encodings_follow_rep_118():
    depth = np.array([[1.2345, np.nan], [70.0, 0.5]], np.float32)
    back = image_to_array(depth_to_image(depth, '32FC1', Header(frame_id='cam')))
    assert np.array_equal(np.isnan(back), np.isnan(depth))
    mm = image_to_array(depth_to_image(depth, '16UC1', Header()))
    # 70 m does not fit 16-bit millimetres: invalid (0), never a valid-looking 65535.
    assert mm.tolist() == [[1234, 0], [0, 500]]
    edge = image_to_array(depth_to_image(np.array([[65.535, 65.5355]], np.float32), '16UC1',
                                         Header()))
    assert edge.tolist() == [[65535, 0]]


def test_cloud_back_projects_to_depth_and_decimates():
    K = Intrinsics(200.0, 200.0, 63.5, 31.5, 128, 64)
    depth = np.random.default_rng(1).uniform(2, 30, (64, 128)).astype(np.float32)
    depth[10:20, 10:20] = np.nan
    rgb = np.zeros((64, 128, 3), np.uint8)
    rgb[..., 0] = 255
    cloud = depth_to_cloud(depth, K.matrix(), Header(frame_id='cam'), rgb, decimation=2)
    assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb']
    assert (cloud.height, cloud.width, cloud.is_dense) == (32, 64, False)
    points = cloud_to_array(cloud)
    expected = points_from_depth(depth, K.matrix())[::2, ::2]
    finite = np.isfinite(expected[..., 2])
    assert np.abs(points[..., :3][finite] - expected[finite]).max() < 1e-4
    assert np.isnan(points[..., 2][~finite]).all()
    assert (points[..., 3].view(np.uint32)[finite] == 0xFF0000).all()
    dense = depth_to_cloud(depth, K.matrix(), Header(), None, 1, organized=False)
    assert dense.height == 1 and dense.width == np.isfinite(depth).sum() and dense.is_dense


def test_camera_model_from_camera_info():
    from sensor_msgs.msg import CameraInfo

    from svde_ros.camera_model import camera_model
    K = [500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]
    P = [480.0, 0, 310, 0, 0, 480.0, 235, 0, 0, 0, 1, 0]
    info = CameraInfo(width=640, height=480, distortion_model='plumb_bob', k=K, p=P,
                      d=[-0.2, 0.05, 0.0, 0.0, 0.0])
    raw = camera_model(info)
    assert raw.maps is not None and raw.intrinsics.fx == 500.0          # undistort, keep K
    rect = camera_model(info, rectified=True)
    assert rect.maps is None and (rect.intrinsics.fx, rect.intrinsics.cx) == (480.0, 310.0)
    frame = np.full((480, 640, 3), 7, np.uint8)
    assert rect.undistort(frame) is frame
    assert camera_model(CameraInfo(width=640, height=480, k=K, d=[0.0] * 5)).maps is None
    info.distortion_model = 'kannala_brandt_9'
    with pytest.raises(ValueError, match="unsupported distortion model 'kannala_brandt_9'"):
        camera_model(info)
