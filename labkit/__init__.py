"""labkit: the code the fine-tuning course's notebooks share.

Start every notebook with ``profile = labkit.profile(); profile``.
"""

import logging
import warnings

from labkit.profiles import Profile, profile
from labkit.seeding import set_seed

# bitsandbytes (imported by peft) logs, on CPUs with bf16 support, that an optional kernel package
# is missing: nothing a learner can act on, and it would land in the first cell that imports peft.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
# torchao (labkit's int8 quantisation; transformers imports it whenever it is installed) ships CUDA
# kernels a CPU torch cannot load and logs one line per kernel, and torch logs a deprecation note for
# each enum torchao registers: it all runs on the CPU without them.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").addFilter(
    lambda record: "register_constant() on Enum subclasses" not in record.getMessage())

# peft asks every model it wraps for `is_gradient_checkpointing`, which transformers 5 deprecated in
# favour of `is_activation_checkpointing`: a FutureWarning with a machine path in every cell that
# builds an adapter, about code the learner did not write.
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

# The course repository: the Colab set-up cell of every notebook installs from it, and the README's
# "Open in Colab" badges point into it (tests/test_setup.py checks both).
REPOSITORY = "https://github.com/labkit-course/labkit"

__all__ = ["Profile", "profile", "set_seed", "REPOSITORY"]
__version__ = "0.1.0"
