"""Protocol adapters: AWS wire formats <-> services. One module per AWS service."""
