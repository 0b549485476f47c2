"""Training: Caffe SGD and groups (solver.py), the DAE (dae.py), adversarial stages
(adversarial.py) and PGD adversarial training (robust.py)."""
