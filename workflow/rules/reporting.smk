rule table2:
    """Table 2: each configured row read off its curve at dist 0, 0.1, 0.2, beside the paper's values, with a verdict per cell."""
    input:
        curves=replicated(curve_path, config["table2"]["rows"], CURVE_REPLICATES),
        cells=replicated(cells_path, config["table2"]["rows"]),
    output:
        csv=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Table 2",
        ),
        markdown=report(
            "results/tables/table2.md",
            caption="../report/table2.rst",
            category="Table 2",
        ),
    log:
        "results/logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=500,
    params:
        labels=[row["label"] for row in config["table2"]["rows"]],
        attacks=[row["noise"] for row in config["table2"]["rows"]],
        dists=config["table2"]["dists"],
        replicates=config["replicates"],
    script:
        "../scripts/table2.py"


rule figure1:
    """Fig. 1: example digits under Gaussian and gradient-sign noise at several distortions."""
    input:
        **baseline_sweeps(),
        data=MNIST_H5,
        sign_map=baseline_sign_map(),
    output:
        report(
            "results/figures/fig1_noise_examples.png",
            caption="../report/fig1.rst",
            category="Figures",
        ),
    log:
        "results/logs/figure1.log",
    benchmark:
        "results/benchmarks/figure1.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        dists=config["figures"]["example_dists"],
        digits=config["figures"]["example_digits"],
        noise_seed=config["evaluation"]["noise_seed"],
    script:
        "../scripts/figure1.py"


rule error_curves_figure:
    """One error-versus-dist figure of config figures.curves (Figs. 3-7 and ours)."""
    input:
        curves=figure_inputs,
    output:
        report(
            "results/figures/{figure}.png",
            caption="../report/error_curves.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "results/logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
    wildcard_constraints:
        figure="|".join(config["figures"]["curves"]),
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        spec=figure_spec,
        table2_rows=config["table2"]["rows"],
        replicates=len(CURVE_REPLICATES),
    script:
        "../scripts/error_curves_figure.py"
