"""mnistrobust: reproduce "Robustness of Deep Convolutional Neural Networks for Image Recognition"."""

__version__ = "0.1.0"
