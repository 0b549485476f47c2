"""The human study of Section 4.2: stimulus sets, the browser experiment, and Figure 8.

* :mod:`.stimuli`: drawing per-subject (or shared) sets of 205 images (stored by ``io.hdf5``);
* :mod:`.responses`: the SQLite store of answers (one row per subject and image);
* :mod:`.server`: the Flask experiment page (``python -m mnistrobust.human serve``);
* :mod:`.analysis` and :mod:`.statistics`: accuracies of humans and LeNets, Figure 8;
* :mod:`.simulated`: simulated subjects for tests only, always labelled simulated.
"""
