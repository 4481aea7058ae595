"""ckslab: hands-on labs for the Kubernetes Certificates API, on a real control plane."""

__version__ = "0.1.0"
