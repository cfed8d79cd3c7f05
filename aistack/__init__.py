"""aistack: one command to a complete AI platform on GCP, AWS or on-prem Kubernetes."""

__version__ = "0.1.0"
