"""Nimbus: AWS Lambda on your own machines."""
