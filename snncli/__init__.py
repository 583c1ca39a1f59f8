"""snncli: train spiking neural networks, export them through NIR, simulate them on chip arithmetic."""

import logging

__version__ = "0.1.0"

# torch logs "Triton not available" at WARNING whenever SpikingJelly probes for
# triton kernels; on a CPU machine that is expected, not a warning for our users.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
