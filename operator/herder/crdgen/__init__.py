"""crdgen"""
