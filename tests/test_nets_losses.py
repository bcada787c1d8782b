"""Networks (shapes, output range, kernel constraints) and the loss terms."""

import pytest
import torch

from napari_selfdiff.blind.selfdiff.losses import data_fidelity, kernel_sparsity
from napari_selfdiff.blind.selfdiff.nets import KernelGenerator, UNet


@pytest.mark.parametrize("shape", [(1, 1, 48, 48), (2, 3, 37, 53)])
@pytest.mark.parametrize(("widths", "attention"), [((8, 16), 1), ((4, 8, 16, 32, 64), 2)])
def test_unet_shapes_and_range(shape, widths, attention):
    net = UNet(shape[1], widths, attention)
    with torch.no_grad():
        out = net(torch.randn(shape))
    assert out.shape == shape
    assert float(out.min()) > 0 and float(out.max()) < 1


def test_unet_is_trainable():
    torch.manual_seed(0)
    net = UNet(1, (8, 16), 1)
    x, target = torch.randn(1, 1, 24, 24), torch.rand(1, 1, 24, 24)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = (net(x) - target).square().sum()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < 0.5 * first


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_kernel_generator_is_on_the_simplex(depth):
    gen = KernelGenerator(9, 81, hidden=32, depth=depth)
    with torch.no_grad():
        k = gen(torch.randn(81))
    assert k.shape == (9, 9)
    assert float(k.min()) >= 0 and abs(float(k.sum()) - 1) < 1e-6
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in gen.modules())
    assert n_linear == depth + 1


def test_sparsity_term_prefers_sparse_kernels_and_has_a_gradient():
    flat = torch.full((5, 5), 1 / 25)
    dot = torch.zeros(5, 5)
    dot[2, 2] = 1
    assert float(kernel_sparsity(dot)) == pytest.approx(1.0, abs=1e-4)
    assert float(kernel_sparsity(flat)) == pytest.approx(25**0.5)
    logits = torch.randn(25, requires_grad=True)
    kernel_sparsity(torch.softmax(logits, 0)).backward()
    assert logits.grad.abs().sum() > 0  # an L1 norm of a softmax would give exactly 0 here
    l1 = torch.randn(25, requires_grad=True)
    torch.softmax(l1, 0).abs().sum().backward()
    assert l1.grad.abs().max() < 1e-6


def test_data_fidelity_is_sum_of_squares():
    a, b = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert float(data_fidelity(a, b)) == 18.0
