"""The local simulated GPU cluster and deploying the `local` stack into it."""
