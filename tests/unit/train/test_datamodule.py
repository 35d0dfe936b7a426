"""In-memory splits are batched by slicing whole tensors; the batches hold exactly the split's rows."""

from __future__ import annotations

import numpy as np
import torch

from mlops_declare.train.data import training_data_from_arrays
from mlops_declare.train.module import ArrayDataModule


def test_batches_are_slices_of_the_split_with_shuffling_and_drop_last() -> None:
    features = np.arange(200, dtype=np.float32).reshape(100, 2)
    targets = np.arange(100) % 2
    data = training_data_from_arrays({name: (features, targets) for name in ("train", "val", "test")})
    module = ArrayDataModule(data, batch_size=32)
    module.setup("fit")
    torch.manual_seed(0)
    train = list(module.train_dataloader())
    assert [len(inputs) for inputs, _ in train] == [32, 32, 32]  # the last short batch is dropped
    rows = torch.cat([inputs for inputs, _ in train])
    assert len({float(row[0]) for row in rows}) == 96 and not torch.equal(rows[:, 0], torch.arange(0, 192, 2.0)[:96])
    for inputs, labels in train:
        assert torch.equal(labels, (inputs[:, 0] / 2).long() % 2)  # features and targets stay paired
    val = list(module.val_dataloader())
    assert [len(inputs) for inputs, _ in val] == [32, 32, 32, 4]
    assert torch.equal(torch.cat([inputs for inputs, _ in val]), torch.from_numpy(features))
