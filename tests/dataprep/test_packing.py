from labkit.dataprep.packing import padding_waste


def test_padding_waste_counts_pad_tokens_per_batch():
    waste = padding_waste([2, 4, 3, 3], batch_size=2)
    assert (waste.real, waste.padded, waste.rows) == (12, 2, 4)  # batch 1 pads 2 to 4; batch 2 none
    assert waste.fraction == 2 / 14
    assert padding_waste([5, 5, 5], batch_size=8).fraction == 0
