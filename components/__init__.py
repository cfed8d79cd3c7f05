"""aistack's Pulumi components: the stack spec, the target layer and the platform layer."""
