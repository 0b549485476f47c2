"""Training: Caffe SGD and groups (solver.py), the DAE (dae.py), adversarial stages
(adversarial.py) and fast adversarial training (fast_at.py)."""
