"""MNIST and USPS: acquiring them from their sources into HDF5 (acquire.py, over the sources
in sources.py and the file formats in formats.py) and loading splits as tensors (load.py)."""

from .acquire import acquire_mnist, acquire_usps
from .formats import MNIST_MD5, MNIST_SIDE, NUM_CLASSES, SPLITS, USPS_FILE, USPS_MD5, USPS_SIDE
from .load import load_split, load_usps

__all__ = [
    "MNIST_MD5",
    "MNIST_SIDE",
    "NUM_CLASSES",
    "SPLITS",
    "USPS_FILE",
    "USPS_MD5",
    "USPS_SIDE",
    "acquire_mnist",
    "acquire_usps",
    "load_split",
    "load_usps",
]
