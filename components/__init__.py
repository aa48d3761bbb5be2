"""dermascan's infrastructure: one Pulumi ComponentResource per layer of the pipeline."""
