"""labkit leans on two private internals of other libraries; each test fails loudly, naming the
library version, the day a release moves one (run under `make test-latest` to see it first).

* TRL's ``trl.trainer.utils._use_triton(device)``: whether TRL computes per-token log-probabilities
  with its compact path; ``labkit.train.score_labelled_tokens_only`` extends it to the CPU.
* bitsandbytes' ``Linear4bit.support_avx512bf16_for_cpu``: ``labkit.tuning.quant.keep_4bit_trainable_on_cpu``
  turns it off so a CPU with AVX512-BF16 keeps a 4-bit layer on the path autograd can train through.
"""

import pytest
import torch

from labkit import train


def test_trl_still_decides_its_compact_path_with_use_triton():
    import trl
    from trl.trainer import utils

    assert callable(getattr(utils, "_use_triton", None)), (
        f"TRL {trl.__version__} no longer has trl.trainer.utils._use_triton: "
        "labkit.train.score_labelled_tokens_only does nothing now; find TRL's new switch and update it")
    train.score_labelled_tokens_only()
    assert utils._use_triton(torch.device("cpu")) is True, (
        f"TRL {trl.__version__}: the CPU patch of _use_triton did not take effect")
    # the calls that read it must still exist where labkit expects them (a rename would leave the patch unread)
    assert "_use_triton(" in open(utils.__file__).read(), f"TRL {trl.__version__}: nothing calls _use_triton any more"


def test_bitsandbytes_still_has_the_cpu_repacking_switch():
    bnb = pytest.importorskip("bitsandbytes")
    from labkit.tuning import quant

    layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.float32, quant_type="nf4")
    assert hasattr(layer, "support_avx512bf16_for_cpu"), (
        f"bitsandbytes {bnb.__version__} renamed Linear4bit.support_avx512bf16_for_cpu: "
        "labkit.tuning.quant.keep_4bit_trainable_on_cpu no longer stops the CPU repacking")
    assert quant.keep_4bit_trainable_on_cpu(torch.nn.Sequential(layer)) == 1
    assert layer.support_avx512bf16_for_cpu is False
    import inspect

    assert "support_avx512bf16_for_cpu" in inspect.getsource(type(layer).forward), (
        f"bitsandbytes {bnb.__version__}: Linear4bit.forward no longer reads the switch labkit sets")
