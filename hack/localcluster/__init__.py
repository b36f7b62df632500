"""The local Kubernetes control plane for tests and development (DESIGN.md section 5)."""
