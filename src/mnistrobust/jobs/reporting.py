"""Jobs of workflow/rules/reporting.smk: Table 2, Fig. 1 and the error-versus-dist figures.

The table and curve-figure jobs import neither torch nor torchvision (about 4 s of CPU
each); Fig. 1 needs torch for the noisy digits and imports it when it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..io.storage import save_figure, write_csv, write_text_atomic
from ..progress import Log
from ..reports.curves import read_cells, read_curve, strength_at_dist
from ..reports.plots import error_curves, paper_points
from ..reports.tables import table2, to_markdown


def write_table2(
    curve_paths: Mapping[str, str],
    dists: Sequence[float],
    csv_path: str,
    markdown_path: str,
    attacks: Mapping[str, str] | None = None,
    cells_paths: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Table 2 from each row label's curve and, where given, its measured cells;
    ``attacks`` names each label's noise (default fgsm)."""
    curves = {method: read_curve(path) for method, path in curve_paths.items()}
    cells = None if cells_paths is None else {method: read_cells(path) for method, path in cells_paths.items()}
    table = table2(curves, dists, attacks, cells)
    write_csv(table, csv_path, float_format="%.4g")
    write_text_atomic(markdown_path, to_markdown(table))
    return table


def error_curves_figure(
    curve_specs: Sequence[Mapping[str, str]],
    paths: Sequence[str],
    title: str,
    output: str,
    table2_rows: Sequence[Mapping[str, str]] = (),
) -> None:
    """One configured figure: ``curve_specs`` are {label, method, noise} in the order of their CSV
    ``paths``; a curve with a row in ``table2_rows`` (config table2.rows) gets the paper's points."""
    frames = [
        read_curve(path).assign(method=spec["label"], noise=spec["noise"]) for spec, path in zip(curve_specs, paths)
    ]
    figure = error_curves(pd.concat(frames, ignore_index=True), title, paper_points(curve_specs, table2_rows))
    save_figure(figure, output)


def figure1(
    data_h5: str, sign_map: str, curve_paths: Mapping[str, str], dists: Sequence[float], digits: int, seed: int, output: str, log: Log = print
) -> None:
    """Fig. 1: the first ``digits`` test images under each noise at each distortion level.

    The strength for a level is read off that noise's sweep, so the columns show the
    distortion the curves are plotted against.
    """
    import torch

    from ..attacks import FGSM, GaussianNoise
    from ..data import load_split
    from ..io.hdf5 import load_sign_map
    from ..reports.figures import noise_examples

    images, _ = load_split(data_h5, "test", limit=digits)
    sign, _ = load_sign_map(sign_map)
    sign = sign[:digits]
    panels = {}
    for noise, path in curve_paths.items():
        curve = read_curve(path)
        levels = []
        for dist in dists:
            strength = strength_at_dist(curve, dist)
            if noise == "gaussian":
                shown = GaussianNoise.perturb(images, strength, torch.Generator().manual_seed(seed))
            else:
                shown = FGSM.perturb(images, sign, strength)
            levels.append((dist, strength, shown[:, 0].numpy()))
        panels[noise] = levels
    save_figure(noise_examples(panels, digits), output)
    log(f"Fig. 1: {digits} digits x {len(dists)} distortions x {len(panels)} noises")
