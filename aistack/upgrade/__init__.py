"""`aistack upgrade plan`: before anything changes, what an upgrade to the stack's pins would do.

``deployed`` reads what runs (the cluster: chart versions, CRDs' stored versions, the Kubernetes
version, GPU nodes' driver versions; the stack's state for chart versions where no cluster answers);
``rules`` compares it with what the stack asks for now (pure: plain data in, findings out);
``report`` prints the table or JSON. Exit: 0 nothing blocks (warnings allowed), 1 something blocks,
2 the deployment could not be read.
"""
