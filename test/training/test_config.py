import pytest

from svde_training.config import (
    ConfigError,
    config_from_dict,
    input_size_for,
    load_config,
    with_input_size,
)

from ..conftest import REPO

NODE_PARAMETERS = ('depth.yaml',)            # ROS parameters, tested with the node
# Camera YAMLs, read by the sources.
CAMERAS = ('kitti_odometry_camera.yaml', 'indoor_kitchen_camera.yaml')


def test_defaults_and_every_shipped_config_load():
    assert config_from_dict({}).model.num_levels == 33
    shipped = [p for p in sorted((REPO / 'config').glob('*.yaml'))
               if p.name not in NODE_PARAMETERS + CAMERAS]
    assert len(shipped) >= 10
    for path in shipped:
        load_config(path)
    from svde_ros.camera_model import load_camera_yaml
    for name in CAMERAS:
        assert load_camera_yaml(REPO / 'config' / name).width > 0
    assert load_config(REPO / 'config' / 'pipeline_synthetic.yaml').pipeline == 'full'
    video = load_config(REPO / 'config' / 'real_video.yaml')
    assert [s.type for s in video.data.sources] == ['kitti_odometry', 'video', 'folder']
    assert video.data.base_width == 320         # from its base, ablation_kitti.yaml
    assert video.data.sources[2].cuts == (53, 54, 70)


def _flat(data: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in data.items():
        out.update(_flat(value, f'{prefix}{key}.') if isinstance(value, dict)
                   else {f'{prefix}{key}': value})
    return out


# What config/recipe.yaml adds to the defaults: its data and the KITTI scoring protocol.
RECIPE_DATA = {'data.sources', 'data.eval_sources', 'data.unseen_sources', 'data.base_height',
               'data.base_width', 'data.crop_height', 'data.crop_width', 'eval.max_frames',
               'eval.garg_crop'}


def test_the_defaults_are_the_recipe():
    """`fit` without --config trains config/recipe.yaml's choices, the measured winner, but
    warps with what the clips have (their poses, else the images' geometry) where the recipe,
    measured with PoseNet on a posed clip, keeps PoseNet."""
    defaults = _flat(config_from_dict({}).to_dict())
    recipe = _flat(load_config(REPO / 'config' / 'recipe.yaml').to_dict())
    differ = {k for k in defaults if defaults[k] != recipe[k]}
    assert differ == RECIPE_DATA | {'pose_source'}
    assert (defaults['pose_source'], recipe['pose_source']) == ('auto', 'posenet')
    # The paper's full pipeline is one config; its parts differ from the recipe.
    paper = load_config(REPO / 'config' / 'paper.yaml')
    assert (paper.pipeline, paper.masking.mode, paper.loss.warping, paper.model.quantization,
            paper.model.pos_channels) == ('full', 'spimo', 'forward', 'aquanet', 16)
    assert paper.data.scale_max > paper.data.scale_min


@pytest.mark.parametrize('frame, size', [((1226, 370), (96, 320)), ((640, 480), (160, 224)),
                                         ((1280, 720), (128, 224)), ((480, 640), (224, 160))])
def test_input_size_keeps_the_cameras_aspect(frame, size):
    assert input_size_for(*frame, 320 * 96) == size


def test_a_larger_pixel_budget_keeps_the_aspect_more_exactly():
    assert input_size_for(640, 480, 4 * 320 * 96) == (288, 384)      # 4:3 exactly


def test_an_automatic_size_is_set_once_and_a_given_one_kept():
    auto = with_input_size(config_from_dict({}), 640, 480).data
    assert (auto.base_height, auto.base_width, auto.crop_height, auto.crop_width) == \
        (160, 224, 160, 224)
    given = with_input_size(config_from_dict({'data': {'base_height': 96, 'base_width': 320,
                                                       'crop_height': 64,
                                                       'crop_width': 256}}), 640, 480).data
    assert (given.base_height, given.base_width, given.crop_height, given.crop_width) == \
        (96, 320, 64, 256)
    with pytest.raises(ConfigError, match='give both of a pair'):
        config_from_dict({'data': {'base_height': 96}})


def test_base_files_merge_and_set_overrides(tmp_path):
    (tmp_path / 'parent.yaml').write_text(
        'model: {width: 0.5, num_levels: 17}\noptim: {lr: 1.0e-3, epochs: 3}\n')
    (tmp_path / 'child.yaml').write_text('base: parent.yaml\noptim: {epochs: 5}\n')
    config = load_config(tmp_path / 'child.yaml', ('model.num_levels=9', 'loss.top_k=4'))
    assert (config.model.width, config.model.num_levels) == (0.5, 9)
    assert (config.optim.lr, config.optim.epochs, config.loss.top_k) == (1e-3, 5, 4)
    # Errors name the file that holds the key, or the override.
    (tmp_path / 'parent.yaml').write_text('model: {widht: 0.5}\n')
    with pytest.raises(ConfigError, match=r"parent.yaml: unknown key 'model.widht'"):
        load_config(tmp_path / 'child.yaml')
    (tmp_path / 'parent.yaml').write_text('model: {width: 0.5}\n')
    with pytest.raises(ConfigError, match=r"--set model.num_levels=one.*expected an integer"):
        load_config(tmp_path / 'child.yaml', ('model.num_levels=one',))
    with pytest.raises(ConfigError, match='expected key.path=value'):
        load_config(tmp_path / 'child.yaml', ('model.width',))
    (tmp_path / 'loop.yaml').write_text('base: loop.yaml\n')
    with pytest.raises(ConfigError, match='chain loops'):
        load_config(tmp_path / 'loop.yaml')
    (tmp_path / 'orphan.yaml').write_text('base: absent.yaml\n')
    with pytest.raises(ConfigError, match='absent.yaml \\(the base of'):
        load_config(tmp_path / 'orphan.yaml')


@pytest.mark.parametrize('data, message', [
    ({'loss': {'ssim_wieght': 0.5}},
     "unknown key 'loss.ssim_wieght' (did you mean 'ssim_weight'?)"),
    ({'optim': {'batch_size': 'four'}}, "optim.batch_size: expected an integer, got str 'four'"),
    ({'optim': {'mixed_precision': 1}}, 'optim.mixed_precision: expected true or false'),
    ({'loss': {'warping': 'sideways'}}, "loss.warping: expected one of 'forward', 'backward'"),
    ({'model': {'quantization': 'adaptive'}}, 'model.quantization: expected one of'),
    ({'data': {'sources': [{'type': 'lidar'}]}},
     "data.sources[0].type: unknown source type 'lidar'"),
    ({'data': {'sources': [{'type': 'folder', 'path': 'x'}]}},
     'data.sources[0]: missing required key(s) intrinsics'),
    ({'data': {'crop_width': 100}}, 'data.crop_width: must be a positive multiple of 32'),
    ({'data': {'base_height': 96, 'base_width': 256, 'crop_height': 64, 'crop_width': 512}},
     'smaller than the crop'),
    ({'data': {'frame_offsets': [0, 1]}}, 'data.frame_offsets'),
    ({'model': {'min_depth': 10, 'max_depth': 1}}, 'min_depth < max_depth'),
    ({'optim': {'warmup_steps': -5}}, 'optim.warmup_steps: must be >= 0, got -5'),
    ([1, 2], 'config: expected a mapping'),
])
def test_bad_values_name_their_key(data, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, 'my.yaml')
    assert message in str(err.value)
    assert str(err.value).startswith('my.yaml: ')


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match='config file not found'):
        load_config(tmp_path / 'absent.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('optim: {epochs: [\n')
    with pytest.raises(ConfigError, match='bad.yaml: not valid YAML'):
        load_config(bad)
    bad.write_text('optim:\n  epoch: 3\n')
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'optim.epoch'"):
        load_config(bad)


def test_round_trip_through_plain_data():
    config = config_from_dict({'data': {'sources': [{'type': 'kitti_raw', 'path': '/d'}]},
                               'model': {'width': 0.5}})
    assert config_from_dict(config.to_dict()) == config


def test_a_run_made_before_a_new_option_still_resumes(tmp_path):
    import yaml

    from svde_training import run_dir
    from svde_training.config import normalized

    config = config_from_dict({}).to_dict()
    old = {**config, 'data': {k: v for k, v in config['data'].items()
                              if k != 'camera_height_m'}}       # written by an older version
    (tmp_path / run_dir.CONFIG_NAME).write_text(yaml.safe_dump(old))
    with pytest.raises(run_dir.RunDirError, match='differs at: data.camera_height_m'):
        run_dir.prepare(tmp_path, config, resume=True, force=False)
    assert run_dir.prepare(tmp_path, config, resume=True, force=False,
                           normalize=normalized) is None
    changed = {**config, 'optim': {**config['optim'], 'lr': 0.5}}
    with pytest.raises(run_dir.RunDirError, match='optim.lr'):
        run_dir.prepare(tmp_path, changed, resume=True, force=False, normalize=normalized)


def test_stored_configs_from_before_a_key_keep_the_value_they_trained_with():
    """A checkpoint written before pose_translation_scale existed had PoseNet's 0.01."""
    from svde_training.config import TrainConfig, normalized, stored_config

    old = TrainConfig().to_dict()
    del old['pose_translation_scale']
    assert stored_config(old).pose_translation_scale == 0.01
    assert normalized(old)['pose_translation_scale'] == 0.01
    assert stored_config({**old, 'pose_translation_scale': 0.3}).pose_translation_scale == 0.3
