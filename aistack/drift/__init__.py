"""`aistack drift`: out-of-band changes and undeployed code, from Pulumi engine events."""
