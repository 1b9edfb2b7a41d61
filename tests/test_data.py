"""The batch data path gives exactly the tensors torchvision's own dataset pipeline gives."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from omegaconf import OmegaConf

from regstudy.config.schema import DatasetConfig
from regstudy.data.batches import Normalizer, random_crop_flip
from regstudy.data.datamodule import load_data, split_train_val
from regstudy.data.decode import DataNotFoundError, Split, decode, open_torchvision
from regstudy.data.specs import get_spec


def _torchvision_batch(ds, indices, spec):
    tf = T.Compose([T.ToTensor(), T.Normalize(spec.mean, spec.std)])
    xs, ys = zip(*[(tf(ds[i][0]) if not torch.is_tensor(ds[i][0]) else ds[i][0], ds[i][1])
                   for i in indices])
    return torch.stack(xs), torch.tensor(ys)


def _dataset_cfg(**kw):
    return OmegaConf.merge(OmegaConf.structured(DatasetConfig), kw)


@pytest.mark.parametrize("name,fixture", [("mnist", "mnist_root"), ("fashion_mnist", "fmnist_root")])
def test_mnist_like_batches_match_torchvision(name, fixture, request):
    root = request.getfixturevalue(fixture)
    spec = get_spec(name)
    ds = open_torchvision(spec, str(root), train=False, download=False)
    data = load_data(_dataset_cfg(name=name, root=str(root), val_size=0, test_subset=300),
                     torch.device("cpu"))
    xb, yb = next(data.test.batches(300))
    ref_x, ref_y = _torchvision_batch(ds, range(300), spec)
    assert torch.equal(yb, ref_y)
    torch.testing.assert_close(xb, ref_x, rtol=0, atol=1e-6)


def test_shuffled_batches_are_a_permutation_of_the_split(mnist_root):
    data = load_data(_dataset_cfg(name="mnist", root=str(mnist_root), val_size=0, subset=1000,
                                  test_subset=10), torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    labels = torch.cat([y for _, y in data.train.batches(128, gen)])
    assert labels.shape[0] == 1000
    assert torch.equal(labels.sort().values, data.train.labels.sort().values)
    assert not torch.equal(labels, data.train.labels)


def test_validation_split_is_fixed_by_split_seed_only():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    split = Split(images, torch.arange(100))
    tr_a, va_a = split_train_val(split, 10, split_seed=0)
    tr_b, va_b = split_train_val(split, 10, split_seed=0)
    _, va_c = split_train_val(split, 10, split_seed=1)
    assert torch.equal(va_a.labels, va_b.labels) and not torch.equal(va_a.labels, va_c.labels)
    assert set(tr_a.labels.tolist()).isdisjoint(va_a.labels.tolist())
    assert len(tr_a.labels) + len(va_a.labels) == 100
    full, none = split_train_val(split, 0, split_seed=0)
    assert none is None and len(full.labels) == 100


def test_real_split_sizes(mnist_root):
    data = load_data(_dataset_cfg(name="mnist", root=str(mnist_root), val_size=5000),
                     torch.device("cpu"))
    assert (len(data.train), len(data.val), len(data.test)) == (55000, 5000, 10000)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_batches_match_torchvision(name, tmp_path):
    from .cifar_files import write_cifar

    write_cifar(name, tmp_path, n_train=60, n_test=40, seed=0)
    spec = get_spec(name)
    ds = open_torchvision(spec, str(tmp_path), train=True, download=False, verify_checksums=False)
    data = load_data(_dataset_cfg(name=name, root=str(tmp_path), val_size=0,
                                  verify_checksums=False), torch.device("cpu"))
    xb, yb = next(data.train.batches(60))
    ref_x, ref_y = _torchvision_batch(ds, range(60), spec)
    assert torch.equal(yb, ref_y)
    torch.testing.assert_close(xb, ref_x, rtol=0, atol=1e-6)


def test_cifar_with_checksums_on_rejects_non_original_files(tmp_path):
    from .cifar_files import write_cifar

    write_cifar("cifar10", tmp_path, n_train=10, n_test=10, seed=0)
    with pytest.raises(DataNotFoundError, match="verify_checksums=false"):
        decode(get_spec("cifar10"), str(tmp_path), train=True, download=False)


def test_crop_flip_matches_torchvision_per_image():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=gen)
    out = random_crop_flip(x, 4, torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    oy = torch.randint(0, 9, (16,), generator=replay)
    ox = torch.randint(0, 9, (16,), generator=replay)
    flip = torch.rand(16, generator=replay) < 0.5
    assert 0 < int(flip.sum()) < 16
    for i in range(16):
        ref = TF.crop(TF.pad(x[i], [4]), int(oy[i]), int(ox[i]), 32, 32)
        if flip[i]:
            ref = TF.hflip(ref)
        assert torch.equal(out[i], ref), f"image {i}"


def test_normalizer_matches_formula():
    norm = Normalizer.create((0.5,), (0.25,), torch.device("cpu"))
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    torch.testing.assert_close(norm(x), ((x.float() / 255) - 0.5) / 0.25)


def test_missing_data_without_download_names_folder_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        decode(get_spec("mnist"), str(tmp_path), train=True, download=False)
    msg = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg
    assert "REGSTUDY_DATA" in msg
