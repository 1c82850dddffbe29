"""The text engine: logger output of mmcv 1.x and mmengine runners, as written to a runner's
`.log` file or captured from a terminal (nohup.out, slurm-*.out, wandb output.log).

Three formats share it (`parsers.formats.mmcv_text`, `mmengine_text`, `console`); they
differ in the dialect of their logger lines (`parsers.patterns.DIALECTS`). The road:
`follow.TextFollower` (a file, in pieces -> its launches, the console label, the year of
console lines) -> `reader.read_text` (one piece of a launch: records through `mmcv_lines` /
`kv`, `train`, `evals`, facts through `header`, the rest through `stray`, the clock through
`clock`).
"""
