"""envstack's Python code in four layers, each importing only those below it (pyproject's [tool.importlinter]):

    cli.py     the `envstack` command
    ops/       account and delivery operations: preflight, verify, promote, review stacks, CI stack matrices
    tools/     offline tools: synth under Pulumi's mocks, report, cost estimate, diff, policy gate, validate
    program/   what `pulumi up` runs besides components/: configuration models and profiles, component arguments,
               the provider, and the small facts components share (zones, the deployment record, names)
"""
