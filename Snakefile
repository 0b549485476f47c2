# mnistrobust: reproduce "Robustness of Deep Convolutional Neural Networks for Image
# Recognition" (Ulicny, Lundstrom, Byttner). See README.md; design in docs/design.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/attacks.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/reporting.smk"
include: "workflow/rules/human.smk"
include: "workflow/rules/strong_attacks.smk"


report: "workflow/report/workflow.rst"


# Under a cluster executor (profiles/slurm) these run where Snakemake runs, not as jobs:
# downloads may need the network, which compute nodes often lack; tables and figures take seconds.
localrules:
    mnist,
    usps,
    table2,
    figure1,
    error_curves_figure,
    human_analysis,
    strong_attacks_table,


rule all:
    """Default target: the paper's study, the human study and the fast-AT reference (and strong_attacks when enabled)."""
    default_target: True
    input:
        final_outputs(),
        default_strong_outputs,


rule paper:
    """Target: the paper's robustness study alone (Table 2, Figures 1, 3-7), without the human study."""
    input:
        paper_outputs(),


# A bare word that is neither a rule nor an output lands here and stops the run with the
# list of named targets (Snakemake alone would only say "No rule to produce").
rule unknown_target:
    """Not a target: explains an unknown target name and lists the named ones."""
    input:
        unknown_target,
    output:
        "{target}",
    wildcard_constraints:
        target="[A-Za-z_][A-Za-z0-9_-]*",
