"""Jobs of workflow/rules/reporting.smk: Table 2, Fig. 1 and the error-versus-dist figures.

The table and curve-figure jobs import neither torch nor torchvision (about 4 s of CPU
each); Fig. 1 needs torch for the noisy digits and imports it when it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..io.curves import read_cells, read_curve
from ..io.storage import save_figure, write_csv, write_text_atomic
from ..progress import Log
from ..reports.curves import mean_curve, strength_at_dist
from ..reports.plots import error_curves, paper_points
from ..reports.tables import replicated_table2, table2, to_markdown
from ..statistics import interval_name


def write_table2(
    replicate_curves: Sequence[Mapping[str, str]],
    dists: Sequence[float],
    csv_path: str,
    markdown_path: str,
    attacks: Mapping[str, str] | None = None,
    replicate_cells: Sequence[Mapping[str, str]] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Table 2 from each row label's curve and, where given, its measured cells, one mapping
    per replicate (replicates after the last with curves have cells alone: config
    replicate_curves false); ``attacks`` names each label's noise (default fgsm). Over two
    or more replicates each cell is their mean with its interval (reports.tables.replicated_table2)."""
    tables = []
    for index in range(len(replicate_cells) if replicate_cells is not None else len(replicate_curves)):
        curves = None
        if index < len(replicate_curves):
            curves = {label: read_curve(path) for label, path in replicate_curves[index].items()}
        cells = None
        if replicate_cells is not None:
            cells = {label: read_cells(path) for label, path in replicate_cells[index].items()}
        tables.append(table2(curves, dists, attacks, cells))
    table = tables[0] if len(tables) == 1 else replicated_table2(tables, confidence)
    write_csv(table, csv_path, float_format="%.4g")
    write_text_atomic(markdown_path, to_markdown(table))
    return table


def table2_job(
    labels: Sequence[str],
    curve_paths: Sequence[str],
    cell_paths: Sequence[str],
    dists: Sequence[float],
    attacks: Sequence[str],
    csv_path: str,
    markdown_path: str,
    log: Log = print,
) -> pd.DataFrame:
    """:func:`write_table2` from the rule's flat lists (replicate 1's rows in the order of
    ``labels``, then replicate 2's, ...; fewer replicates of curves than of cells with config
    replicate_curves false); ``attacks`` names each label's noise. Logs the table."""

    def per_replicate(paths: Sequence[str]) -> list[dict[str, str]]:
        paths = list(paths)
        return [dict(zip(labels, paths[start : start + len(labels)])) for start in range(0, len(paths), len(labels))]

    table = write_table2(
        per_replicate(curve_paths),
        dists,
        csv_path=csv_path,
        markdown_path=markdown_path,
        attacks=dict(zip(labels, attacks)),
        replicate_cells=per_replicate(cell_paths),
    )
    log("\n" + table.to_string(index=False))
    return table


def error_curves_figure(
    curve_specs: Sequence[Mapping[str, str]],
    paths: Sequence[str],
    title: str,
    output: str,
    table2_rows: Sequence[Mapping[str, str]] = (),
    replicates: int = 1,
    confidence: float = 0.95,
) -> None:
    """One configured figure: ``curve_specs`` are {label, method, noise}; ``paths`` their CSVs,
    replicate 1's in the order of the specs, then replicate 2's, ...; a curve with a row in
    ``table2_rows`` (config table2.rows) gets the paper's points. Over two or more replicates
    each line is their mean, with the interval as a band."""
    if len(paths) != replicates * len(curve_specs):
        raise ValueError(f"{len(paths)} curve files for {len(curve_specs)} curves x {replicates} replicates")
    frames = []
    for index, spec in enumerate(curve_specs):
        replicas = [read_curve(paths[replicate * len(curve_specs) + index]) for replicate in range(replicates)]
        curve = replicas[0] if replicates == 1 else mean_curve(replicas, confidence)
        frames.append(curve.assign(method=spec["label"], noise=spec["noise"]))
    curves = pd.concat(frames, ignore_index=True)
    bands, band_label = None, ""
    if replicates > 1:
        bands = curves
        band_label = f"mean of {replicates} replicates, {interval_name(replicates, confidence)}"
    save_figure(error_curves(curves, title, paper_points(curve_specs, table2_rows), bands, band_label), output)


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
