"""The U-net, its FP-fitted normalisation, and model bundles."""
