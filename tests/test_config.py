"""Config dataclasses: presets, validation messages, overrides and provenance round trip."""

import dataclasses
import json

import pytest

from napari_selfdiff.config import (
    ComputeConfig,
    DeblurConfig,
    ImageNetConfig,
    PsfRefitConfig,
    ScheduleConfig,
)
from napari_selfdiff.errors import ConfigError


def test_paper_preset_is_the_paper():
    c = DeblurConfig.preset("paper")
    assert (c.schedule.steps, c.schedule.inner_steps) == (30, 200)
    assert (c.schedule.beta_start, c.schedule.beta_end, c.schedule.kernel_noise_scale) == (1e-4, 2e-2, 0.15)
    assert c.kernel_sparsity == 2e-3 and c.lr == 1e-3 and c.kernel_lr == pytest.approx(2.5e-4)
    assert c.image_net.widths == (64, 128, 256, 512, 1024) and c.image_net.attention_levels >= 1
    assert c.kernel_net.hidden == 1000 and c.kernel_net.mode == "diffusion"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ScheduleConfig(steps=0), r"`steps` must be an integer >= 1, got 0"),
        (lambda: ScheduleConfig(beta_start=0.1, beta_end=0.05), r"`beta_end` must be"),
        (lambda: ImageNetConfig(widths=(8, -1)), r"`widths` must be"),
        (lambda: DeblurConfig(lr=-1.0), r"`lr` must be a finite number > 0, got -1.0"),
        (lambda: DeblurConfig(sparsity_p=1.0), r"`sparsity_p` must be a number in \(0, 1\)"),
        (lambda: DeblurConfig(stack_mode="both"), r"`stack_mode` must be"),
        (
            lambda: DeblurConfig(restore="wiener"),
            r"`restore` must be 'network', 'richardson_lucy', 'tv' or 'auto', got 'w",
        ),
        (lambda: DeblurConfig(restore_iterations=0), r"`restore_iterations` must be an integer >= 1, got 0"),
        (
            lambda: DeblurConfig(restore_tv_weight=0.1),
            r"`restore_tv_weight` must be a number in \[0, 0.05\], got 0.1",
        ),
        (lambda: PsfRefitConfig(prior_weight=0), r"`prior_weight` must be a finite number > 0, got 0"),
        (lambda: PsfRefitConfig(edge_fraction=1.5), r"`edge_fraction` must be a number in \(0, 1\], got 1.5"),
        (lambda: PsfRefitConfig(floor=1.0), r"`floor` must be a number in \[0, 1\), got 1.0"),
        (lambda: PsfRefitConfig(reference_area=0.5), r"`reference_area` must be an integer >= 1, got 0.5"),
        (lambda: DeblurConfig(psf_refit={"enabled": "yes"}), r"`enabled` must be True or False, got 'yes'"),
        (lambda: ComputeConfig(batch_planes=0), r"`batch_planes` must be 'auto' or an integer >= 1, got 0"),
        (lambda: DeblurConfig.preset("slow"), r"`preset` must be one of"),
        (lambda: DeblurConfig().replace(**{"schedule.stepz": 3}), r"has no field"),
    ],
)
def test_validation_names_field_value_and_rule(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_replace_and_round_trip():
    c = DeblurConfig.preset("fast").replace(
        **{"schedule.steps": 7, "kernel_net.depth": 3, "lr": 0.02, "psf_refit.enabled": False}
    )
    assert (c.schedule.steps, c.kernel_net.depth, c.lr, c.psf_refit.enabled) == (7, 3, 0.02, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0
    restored = DeblurConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert restored == c
