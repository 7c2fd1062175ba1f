"""labkit: the code the fine-tuning course's notebooks share.

Start every notebook with ``profile = labkit.profile(); profile``.
"""

from labkit.profiles import Profile, profile
from labkit.seeding import set_seed

__all__ = ["Profile", "profile", "set_seed"]
__version__ = "0.1.0"
