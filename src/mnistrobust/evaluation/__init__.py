"""Evaluation of methods: the paper's error-versus-distortion sweeps and the strong attacks."""
